"""The tornado application: token-checked static files, and one websocket per browser tab.

Every blocking job (listing a directory, sniffing a file, loading a dataset, running an
analysis) runs on a thread pool, so the event loop only moves messages. Partial results come
back from the worker thread through ``IOLoop.add_callback`` (thread-safe) and leave as binary
frames. A ``run`` for an analysis id that is still running cancels the older run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import tornado.web
import tornado.websocket
from tornado.ioloop import IOLoop

from ferrotem.gui.bookmarks import Bookmarks
from ferrotem.gui.file_routes import ROUTES as FILE_ROUTES
from ferrotem.gui.messages import PreparedRun, Session, error_reply, stream_run
from ferrotem.gui.outbox import Outbox, frame_header
from ferrotem.gui.protocol import (
    MAX_MESSAGE_BYTES,
    ProtocolError,
    encode_binary_frame,
    parse_request,
)
from ferrotem.gui.resources import ComputeResources
from ferrotem.gui.security import COOKIE_NAME, TOKEN_NAME, token_matches
from ferrotem.gui.tab_requests import tab_requests
from ferrotem.gui.tabs import TabRegistry

__all__ = ["ServerConfig", "ServerState", "make_app"]

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
#: tornado closes the connection above this (our own, smaller limit answers with an error)
_HARD_MESSAGE_LIMIT = 4 * MAX_MESSAGE_BYTES


@dataclass
class ServerConfig:
    """What ``ferrotem server`` was started with."""

    root: Path
    token: str | None
    #: analyses that may run at once (over all tabs); more wait for a free thread
    workers: int = 4
    #: threads of the embedded executor (``--cpus``; None: all cores), shown to the tabs
    cpus: int | None = None


class ServerState:
    """What all connections share: the one Context, the root, the token, the thread pools."""

    def __init__(self, ctx: Any, config: ServerConfig):
        self.ctx = ctx
        self.root = config.root.resolve()
        self.token = config.token
        # two pools, so that browsing and opening files stay quick while runs occupy theirs
        self.requests = concurrent.futures.ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="ferrotem-gui-request"
        )
        self.runs = concurrent.futures.ThreadPoolExecutor(
            max_workers=config.workers, thread_name_prefix="ferrotem-gui-run"
        )
        #: each connected tab's session by id (its ``session`` request tells it; downloads name it)
        self.tabs = TabRegistry()
        #: the embedded Context or a Dask scheduler (gui/resources.py); file-browser bookmarks
        self.resources = ComputeResources(self, config.cpus)
        self.bookmarks = Bookmarks(self.root)

    def close(self) -> None:
        """Stops the thread pools (runs in flight see their cancellation flag) and closes a
        scheduler connection the tabs chose."""
        self.resources.close()
        self.requests.shutdown(wait=False, cancel_futures=True)
        self.runs.shutdown(wait=False, cancel_futures=True)


def _request_token(handler: tornado.web.RequestHandler) -> str | None:
    """The token a request carries: the URL's ``?token=`` first, then the cookie."""
    token = handler.get_query_argument(TOKEN_NAME, None)
    return token if token else handler.get_cookie(COOKIE_NAME)


def _check_token(handler: tornado.web.RequestHandler, state: ServerState) -> None:
    """Refuses (403) a request without the server's token; remembers a good URL token in a
    cookie so that the page's own requests (scripts, the websocket) carry it."""
    given = _request_token(handler)
    if not token_matches(state.token, given):
        raise tornado.web.HTTPError(403, reason="missing or wrong token")
    if state.token is not None and handler.get_query_argument(TOKEN_NAME, None):
        handler.set_cookie(COOKIE_NAME, state.token, httponly=True, samesite="Strict")


def _with_id(request: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    """``reply`` with the request's ``id``, when it had one."""
    return {**reply, "id": request["id"]} if "id" in request else reply


class IndexHandler(tornado.web.RequestHandler):
    """``/``: the front end's page."""

    def initialize(self, state: ServerState) -> None:
        self.state = state

    def prepare(self) -> None:
        _check_token(self, self.state)

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        # the page runs only its own scripts, talks only to this server, and is never framed
        host = self.request.host
        self.set_header(
            "Content-Security-Policy",
            f"default-src 'self'; connect-src 'self' ws://{host} wss://{host}; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")  # the URL holds the token
        self.write((STATIC_DIR / "index.html").read_bytes())


class StaticHandler(tornado.web.StaticFileHandler):
    """``/static/…``: the front end's scripts and styles, behind the token too."""

    def initialize(
        self,
        path: str,
        default_filename: str | None = None,
        allowed_symlink_directory: str | list[str] | None = None,
        state: ServerState | None = None,
    ) -> None:
        assert state is not None, "make_app passes the state"
        self.state = state
        super().initialize(path, default_filename, allowed_symlink_directory)

    def prepare(self) -> None:
        _check_token(self, self.state)


class SocketHandler(tornado.websocket.WebSocketHandler):
    """One browser tab: requests in as JSON text, answers as JSON, images as binary frames."""

    def initialize(self, state: ServerState) -> None:
        self.state = state
        self.session = Session(state.ctx, state.root)
        self.runs: dict[str, PreparedRun] = {}
        #: per analysis id, the number of the newest run asked for
        self.latest: dict[str, int] = {}
        self.run_counter = 0
        # every message leaves through the outbox: a slow reader holds back at most one
        # partial frame per analysis (gui/outbox.py)
        self.outbox = Outbox(lambda data, binary: self.write_message(data, binary=binary))

    async def get(self, *args: Any, **kwargs: Any) -> None:
        # the token is checked before the upgrade: a refused handshake is a plain 403
        try:
            _check_token(self, self.state)
        except tornado.web.HTTPError:
            self.set_status(403)
            self.finish("missing or wrong token")
            return
        await super().get(*args, **kwargs)

    def open(self, *args: str, **kwargs: str) -> None:
        # the tab asks for its id (a "session" request): its downloads and notebooks name it
        loop = IOLoop.current()
        self.session_id = self.state.tabs.add(
            self.session,
            busy=lambda: bool(self.runs),
            notify=lambda message: loop.add_callback(self._send, message),
        )

    def check_origin(self, origin: str) -> bool:
        """Only pages served by this server may connect (the Origin's host:port must be the
        Host the request was sent to); clients that send no Origin (not browsers) still need
        the token."""
        parsed = urlsplit(origin)
        return parsed.scheme in ("http", "https") and parsed.netloc == self.request.host

    def on_message(self, message: str | bytes) -> None:
        try:
            request = parse_request(message)
        except ProtocolError as e:
            self._send(error_reply(None, str(e)))
            return
        IOLoop.current().spawn_callback(self._dispatch, request)

    async def _dispatch(self, request: dict[str, Any]) -> None:
        kind = request["type"]
        session = self.session
        simple = {
            "list_dir": session.list_dir,
            "detect": session.detect,
            "open": session.open,
            "close_dataset": session.close_dataset,
            # session id, results, bookmarks, compute resources (gui/tab_requests.py)
            **tab_requests(self),
        }
        try:
            if kind in simple:
                self._send(_with_id(request, await self._in_pool(simple[kind], request)))
            elif kind == "run":
                await self._run(request)
            elif kind == "cancel":
                analysis_id = str(request.get("analysis_id", "main"))
                self._cancel(analysis_id)
                self._send(_with_id(request, {"type": "cancelled", "analysis_id": analysis_id}))
            elif kind == "ping":
                self._send(_with_id(request, {"type": "pong"}))
            else:
                raise ProtocolError(f"type: got {kind!r}, which is not a request this server knows")
        except ProtocolError as e:
            self._send(error_reply(request, str(e), e.param))
        except Exception as e:
            log.exception("request %r failed", kind)
            self._send(error_reply(request, f"{type(e).__name__}: {e}"))

    async def _in_pool(self, fn: Any, *args: Any, pool: Any = None) -> Any:
        """``fn(*args)`` on a worker thread (the request pool unless ``pool`` is given)."""
        pool = self.state.requests if pool is None else pool
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _cancel(self, analysis_id: str) -> None:
        self.latest.pop(analysis_id, None)  # also drops a run still being prepared
        old = self.runs.pop(analysis_id, None)
        if old is not None:
            old.cancelled.set()

    async def _run(self, request: dict[str, Any]) -> None:
        analysis_id = str(request.get("analysis_id", "main"))
        self._cancel(analysis_id)  # a newer request replaces the older run
        # numbered on arrival: a run still being prepared when a newer one arrives is dropped
        self.run_counter += 1
        number = self.run_counter
        self.latest[analysis_id] = number
        run = await self._in_pool(self.session.prepare_run, request)
        if self.latest.get(analysis_id) != number:
            self._send({"type": "run_cancelled", "run": number, "analysis_id": analysis_id})
            return
        run.header["run"] = number
        run.header["analysis"] = analysis_id
        self.runs[analysis_id] = run
        loop = IOLoop.current()
        self._send(
            _with_id(request, {"type": "run_started", "run": number, "analysis_id": analysis_id})
        )

        def emit(header: dict[str, Any], image: np.ndarray) -> None:
            frame = encode_binary_frame(header, image)  # encoded in the worker, not the loop
            loop.add_callback(self._send_frame, run, frame)

        try:
            finished = await self._in_pool(
                stream_run, self.state.ctx, run, emit, pool=self.state.runs
            )
        except Exception as e:
            log.exception("run %s failed", run.header["run"])
            self._send(error_reply(request, f"{type(e).__name__}: {e}"))
            finished = False
        if self.runs.get(analysis_id) is run:
            del self.runs[analysis_id]
        self._send({"type": "run_finished" if finished else "run_cancelled",
                    "run": run.header["run"], "analysis_id": analysis_id})  # fmt: skip

    def _send_frame(self, run: PreparedRun, frame: bytes) -> None:
        if run.cancelled.is_set():
            return  # a newer run replaced it: its late frames are dropped here
        header = frame_header(frame)
        # a newer partial image replaces a waiting one of the same analysis and channel
        key = f"{header.get('analysis')}/{header.get('channel', '')}"
        self.outbox.frame(key, frame, bool(header.get("final")), run.cancelled.is_set)

    def _send(self, reply: dict[str, Any]) -> None:
        self.outbox.text(json.dumps(reply))

    def on_close(self) -> None:
        self.state.tabs.remove(getattr(self, "session_id", ""))
        self.outbox.close()
        for run in self.runs.values():
            run.cancelled.set()
        self.runs.clear()
        self.session.datasets.clear()


class NotFoundHandler(tornado.web.RequestHandler):
    """Any other URL: 403 without the token (nothing is revealed), else 404."""

    def initialize(self, state: ServerState) -> None:
        self.state = state

    def prepare(self) -> None:
        _check_token(self, self.state)
        raise tornado.web.HTTPError(404)


def make_app(state: ServerState) -> tornado.web.Application:
    """The application: ``/`` (page), ``/static/…`` (scripts), ``/ws`` (the websocket),
    ``/download/…`` and ``/notebook/…`` (results as files, :mod:`.file_routes`)."""
    return tornado.web.Application(
        [
            *(
                (pattern, handler, {"state": state, "check_token": _check_token})
                for pattern, handler in FILE_ROUTES
            ),
            (r"/", IndexHandler, {"state": state}),
            (r"/static/(.*)", StaticHandler, {"path": str(STATIC_DIR), "state": state}),
            (r"/ws", SocketHandler, {"state": state}),
        ],
        websocket_max_message_size=_HARD_MESSAGE_LIMIT,
        compress_response=False,
        default_handler_class=NotFoundHandler,
        default_handler_args={"state": state},
    )
