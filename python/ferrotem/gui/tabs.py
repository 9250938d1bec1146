"""Which browser tab is which: each websocket connection's :class:`Session` under an id that
is handed to the tab when it connects, so that plain HTTP requests (downloads, notebooks) from
that tab can find its results.

The id is random (128 bits), so a request can reach another tab's results only by knowing its
id as well as the server's token; an unknown id is answered with 404.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["TabRegistry"]


class TabRegistry:
    """The sessions of the connected tabs, by session id (thread-safe: HTTP handlers read it
    on the event loop, request threads walk it when the compute resources change)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Any] = {}
        self._busy: dict[str, Callable[[], bool]] = {}
        self._lock = threading.Lock()

    def add(self, session: Any, busy: Callable[[], bool] | None = None) -> str:
        """Registers ``session``; ``busy`` tells whether the tab has analyses running.
        Returns the session's fresh id."""
        session_id = secrets.token_urlsafe(16)
        with self._lock:
            self._sessions[session_id] = session
            self._busy[session_id] = busy or (lambda: False)
        return session_id

    def get(self, session_id: str) -> Any | None:
        """The session registered under ``session_id``, or None."""
        with self._lock:
            return self._sessions.get(session_id)

    def remove(self, session_id: str) -> None:
        """Forgets a session (its tab closed); unknown ids are ignored."""
        with self._lock:
            self._sessions.pop(session_id, None)
            self._busy.pop(session_id, None)

    def sessions(self) -> list[Any]:
        """Every registered session (a copy of the list)."""
        with self._lock:
            return list(self._sessions.values())

    def busy(self) -> list[Callable[[], bool]]:
        """Each tab's "has analyses running" check."""
        with self._lock:
            return list(self._busy.values())
