"""Compute resources: the embedded default (the server's own ``Context``, ``--cpus`` threads)
or a Dask scheduler the user names, for every tab of the server at once.

Connecting makes a new ``Context`` on :meth:`DaskJobExecutor.connect` (it closes only its own
client later, never the cluster); the open datasets stay open and run on the new executor.
The switch is refused while analyses are running, so that no run loses its executor halfway;
every connected tab is told of a switch (a ``resources`` message without ``id``).
A bad address is answered in words (``address`` named) within :data:`CONNECT_TIMEOUT` seconds.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from ferrotem.gui.protocol import ProtocolError

__all__ = ["CONNECT_TIMEOUT", "ComputeResources"]

#: seconds a connection to a scheduler may take before the request fails
CONNECT_TIMEOUT = 5.0
#: a scheduler address: ``tcp://host:port`` (``tls://``, ``ws://``, ``wss://``, ``inproc://``
#: are Dask's other schemes) or ``host:port``
_ADDRESS = re.compile(r"^((tcp|tls|ws|wss|ucx)://)?[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")


class ComputeResources:
    """What the server computes on; ``state`` is the server's state (its ``ctx`` is switched,
    and each tab's session follows)."""

    def __init__(self, state: Any, cpus: int | None = None):
        self.state = state
        self.cpus = cpus
        self.embedded = state.ctx
        self.kind = "embedded"
        self.address: str | None = None
        self._lock = threading.Lock()

    # -- requests ---------------------------------------------------------------------------
    def describe(self, request: dict[str, Any] | None = None) -> dict[str, Any]:
        """``get_resources``: ``kind`` (``embedded`` or ``dask``), ``address``, ``workers``."""
        return {"type": "resources", "kind": self.kind, "address": self.address,
                "workers": self._workers()}  # fmt: skip

    def choose(self, request: dict[str, Any]) -> dict[str, Any]:
        """``set_resources``: ``{"kind": "embedded"}`` or ``{"kind": "dask", "address":
        "tcp://host:port"}``."""
        kind = request.get("kind")
        if kind not in ("embedded", "dask"):
            raise ProtocolError(f"kind: got {kind!r}, expected 'embedded' or 'dask'", "kind")
        address = request.get("address")
        if kind == "dask" and (not isinstance(address, str) or not _ADDRESS.match(address)):
            raise ProtocolError(
                f"address: got {address!r}, expected a scheduler address such as "
                "'tcp://127.0.0.1:8786'",
                "address",
            )
        with self._lock:
            running = sum(bool(tab.busy()) for tab in self.state.tabs.tabs())
            if running:
                raise ProtocolError(
                    f"kind: {running} tab(s) have analyses running; wait for them or cancel "
                    "them before changing the compute resources",
                    "kind",
                )
            new_ctx = self.embedded if kind == "embedded" else self._connect(str(address))
            old_ctx = self.state.ctx
            self._switch(new_ctx)
            self.kind, self.address = kind, (str(address) if kind == "dask" else None)
            if old_ctx is not self.embedded and old_ctx is not new_ctx:
                old_ctx.close()  # a scheduler connection of ours: the cluster stays up
        described = self.describe()
        for tab in self.state.tabs.tabs():  # every tab's panel shows the change
            tab.notify(described)
        return described

    def close(self) -> None:
        """Closes a scheduler connection this object made (not the embedded Context)."""
        with self._lock:
            if self.state.ctx is not self.embedded:
                self.state.ctx.close()
                self._switch(self.embedded)

    # -- helpers ----------------------------------------------------------------------------
    def _connect(self, address: str) -> Any:
        from ferrotem.api import Context
        from ferrotem.executor.dask import DaskJobExecutor

        try:
            executor = DaskJobExecutor.connect(address, client_kwargs={"timeout": CONNECT_TIMEOUT})
        except (OSError, TimeoutError, ValueError) as e:
            raise ProtocolError(
                f"address: could not connect to the scheduler at {address!r} within "
                f"{CONNECT_TIMEOUT:g} s ({type(e).__name__}: {e})",
                "address",
            ) from None
        return Context(executor=executor)

    def _switch(self, ctx: Any) -> None:
        self.state.ctx = ctx
        for session in self.state.tabs.sessions():
            session.ctx = ctx

    def _workers(self) -> int | None:
        if self.kind == "embedded":
            return self.cpus or os.cpu_count()
        client = getattr(self.state.ctx.executor, "client", None)
        try:
            return len(client.scheduler_info()["workers"]) if client is not None else None
        except Exception:  # the scheduler went away: the count is unknown, not an error
            return None
