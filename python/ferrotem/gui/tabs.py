"""Which browser tab is which: each websocket connection's :class:`Session` under an id that
is handed to the tab when it asks (a ``session`` request), so that plain HTTP requests
(downloads, notebooks) from that tab can find its results; and, per tab, whether it has
analyses running and how to tell it something (server-wide changes such as the compute
resources).

The id is random (128 bits), so a request can reach another tab's results only by knowing its
id as well as the server's token; an unknown id is answered with 404.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Tab", "TabRegistry"]


def _never() -> bool:
    return False


def _nobody(message: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Tab:
    """One connected tab: its session, whether it has analyses running, and a thread-safe way
    to send it a message."""

    session: Any
    busy: Callable[[], bool] = _never
    notify: Callable[[dict[str, Any]], None] = _nobody


class TabRegistry:
    """The connected tabs, by session id (thread-safe: HTTP handlers read it on the event
    loop, request threads walk it when the compute resources change)."""

    def __init__(self) -> None:
        self._tabs: dict[str, Tab] = {}
        self._lock = threading.Lock()

    def add(
        self,
        session: Any,
        busy: Callable[[], bool] | None = None,
        notify: Callable[[dict[str, Any]], None] | None = None,
    ) -> str:
        """Registers a tab's ``session``; ``busy`` tells whether the tab has analyses running,
        ``notify(message)`` sends it a message from any thread. Returns the fresh id."""
        session_id = secrets.token_urlsafe(16)
        with self._lock:
            self._tabs[session_id] = Tab(session, busy or _never, notify or _nobody)
        return session_id

    def get(self, session_id: str) -> Any | None:
        """The session registered under ``session_id``, or None."""
        with self._lock:
            tab = self._tabs.get(session_id)
        return None if tab is None else tab.session

    def remove(self, session_id: str) -> None:
        """Forgets a tab (it closed); unknown ids are ignored."""
        with self._lock:
            self._tabs.pop(session_id, None)

    def tabs(self) -> list[Tab]:
        """Every connected tab (a copy of the list)."""
        with self._lock:
            return list(self._tabs.values())

    def sessions(self) -> list[Any]:
        """Every connected tab's session."""
        return [tab.session for tab in self.tabs()]
