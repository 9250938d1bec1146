"""Back-pressure on one websocket: what waits to be written when the browser reads slowly.

Every outgoing message goes through an :class:`Outbox`. It hands messages to tornado at once
while the bytes tornado has not yet passed to the socket stay under a limit (a client that
reads keeps up, and gets every frame); above it, the outbox waits until tornado's buffer has
drained, so a client that does not read stops the writing instead of growing the buffer
without bound. While messages wait, a newer *partial* result frame of an analysis replaces the
older partial frame of that analysis (and channel) that is still waiting (it is dropped: the
newer one holds all of it, and more), so at most one partial frame per analysis and channel
waits. Final frames and text
messages are never dropped, and everything that is kept leaves in the order it was given.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IN_FLIGHT_LIMIT", "Outbox", "frame_header"]

#: bytes handed to tornado but not yet to the socket, above which the outbox holds messages
IN_FLIGHT_LIMIT = 8 << 20

_LENGTH = struct.Struct("<I")


def frame_header(frame: bytes) -> dict[str, Any]:
    """The JSON header of a binary frame (see :mod:`.protocol`), without touching its array."""
    (n,) = _LENGTH.unpack_from(frame)
    header: dict[str, Any] = json.loads(frame[_LENGTH.size : _LENGTH.size + n])
    return header


@dataclass
class _Waiting:
    data: str | bytes
    #: the analysis a partial frame belongs to (None: a text message or a final frame)
    partial_of: str | None = None
    #: true once the frame is not wanted any more (its run was cancelled)
    stale: Callable[[], bool] = field(default=lambda: False)


class Outbox:
    """The messages waiting for one connection, written in order by a single task.

    ``write(data, binary)`` starts writing one message and returns an awaitable that is done
    once it has left (tornado's ``write_message``); ``limit``: the bytes in flight above which
    messages wait (default :data:`IN_FLIGHT_LIMIT`). Meant for the event loop's thread only.
    """

    def __init__(
        self,
        write: Callable[[str | bytes, bool], Awaitable[None] | None],
        limit: int | None = None,
    ):
        self._write = write
        limit = IN_FLIGHT_LIMIT if limit is None else limit
        if limit < 1:
            raise ValueError(f"limit: got {limit!r}, expected at least one byte")
        self.limit = limit
        self._waiting: list[_Waiting] = []
        #: messages handed to tornado and not yet written out, with their sizes
        self._in_flight: deque[tuple[asyncio.Future[None], int]] = deque()
        self._in_flight_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        #: partial frames dropped because a newer one replaced them (for tests and logs)
        self.dropped = 0
        #: the most frames that waited at once
        self.most_waiting_frames = 0

    def text(self, message: str) -> None:
        """Queues a text message (never dropped)."""
        self._put(_Waiting(message))

    def frame(
        self, analysis: str, frame: bytes, final: bool, stale: Callable[[], bool] | None = None
    ) -> None:
        """Queues a result frame of ``analysis``; a partial one replaces the partial frame of
        the same analysis that is still waiting, if any."""
        if not final:
            for i, waiting in enumerate(self._waiting):
                if waiting.partial_of == analysis:
                    del self._waiting[i]  # superseded: the newer frame goes to the end
                    self.dropped += 1
                    break
        self._put(_Waiting(frame, None if final else analysis, stale or (lambda: False)))
        frames = sum(isinstance(w.data, bytes) for w in self._waiting)
        self.most_waiting_frames = max(self.most_waiting_frames, frames)

    @property
    def waiting(self) -> int:
        """How many messages wait."""
        return len(self._waiting)

    def close(self) -> None:
        """Drops everything waiting; later messages are ignored."""
        self.closed = True
        self._waiting.clear()
        self._in_flight.clear()
        self._in_flight_bytes = 0

    def _put(self, waiting: _Waiting) -> None:
        if self.closed:
            return
        self._waiting.append(waiting)
        self._pump()

    def _forget_written(self) -> None:
        """Drops the messages that have left from the in-flight list; a failed write (the
        connection closed) closes the outbox."""
        while self._in_flight and self._in_flight[0][0].done():
            future, size = self._in_flight.popleft()
            self._in_flight_bytes -= size
            if future.cancelled() or future.exception() is not None:
                self.close()

    def _pump(self) -> None:
        """Hands tornado what may go now; when the client is behind, waits for the oldest
        write in a task (meanwhile new partial frames replace the waiting ones)."""
        self._forget_written()
        while self._waiting and not self.closed and self._in_flight_bytes < self.limit:
            waiting = self._waiting.pop(0)
            if waiting.stale():
                continue
            try:
                done = self._write(waiting.data, isinstance(waiting.data, bytes))
            except Exception:  # the connection closed under us: nothing more can be sent
                self.close()
                return
            if done is not None:
                size = len(waiting.data)
                self._in_flight.append((asyncio.ensure_future(done), size))
                self._in_flight_bytes += size
        if self._waiting and not self.closed and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._wait_then_pump())

    async def _wait_then_pump(self) -> None:
        await asyncio.wait([self._in_flight[0][0]])
        self._task = None  # this task ends: the pump may start the next wait
        self._pump()
