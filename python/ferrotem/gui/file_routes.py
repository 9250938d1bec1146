"""The HTTP routes that hand a tab's results out as files (token-checked like every route):

- ``/download/<session>/<analysis>.<npz|h5|tiff|png>[?channel=...]`` (:mod:`.downloads`);
- ``/notebook/<session>/<analysis>.ipynb`` (:mod:`.notebook`).

``<session>`` is the id the tab got in the ``hello`` message when its websocket connected.
Unknown sessions or analyses answer 404, bad channels 400, with the reason as plain text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import tornado.web

from ferrotem.gui.downloads import FORMATS, DownloadError, encode_result, file_name, find_result
from ferrotem.gui.notebook import NotebookError, make_notebook, notebook_json

__all__ = ["ROUTES"]


class _ResultFileHandler(tornado.web.RequestHandler):
    """Shared: the token check, plain-text errors, and the download headers."""

    def initialize(self, state: Any, check_token: Callable[[Any, Any], None]) -> None:
        # the server's token check is handed in: server.py imports this module
        self.state = state
        self.check_token = check_token

    def prepare(self) -> None:
        self.check_token(self, self.state)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(getattr(self, "error_text", self._reason))

    def send_file(self, body: bytes, content_type: str, name: str) -> None:
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.write(body)

    async def in_pool(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the request pool; a :class:`DownloadError` becomes its status."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.state.requests, fn, *args)
        except (DownloadError, NotebookError) as e:
            self.error_text = str(e)
            raise tornado.web.HTTPError(e.status if isinstance(e, DownloadError) else 400) from None


class DownloadHandler(_ResultFileHandler):
    """``/download/<session>/<analysis>.<format>``: one analysis' result as a file."""

    async def get(self, session_id: str, analysis_id: str, fmt: str) -> None:
        channel = self.get_query_argument("channel", None)

        def encode() -> bytes:
            result = find_result(self.state.tabs, session_id, analysis_id)
            return encode_result(result, fmt, channel)

        body = await self.in_pool(encode)
        whole = FORMATS[fmt][1] and channel is None
        self.send_file(
            body, FORMATS[fmt][0], file_name(analysis_id, fmt, None if whole else channel)
        )


class NotebookHandler(_ResultFileHandler):
    """``/notebook/<session>/<analysis>.ipynb``: a notebook reproducing the analysis."""

    async def get(self, session_id: str, analysis_id: str) -> None:
        def write() -> str:
            result = find_result(self.state.tabs, session_id, analysis_id)
            return notebook_json(make_notebook(result, self.state.root))

        text = await self.in_pool(write)
        self.send_file(text.encode(), "application/x-ipynb+json", file_name(analysis_id, "ipynb"))


#: (pattern, handler) pairs for ``make_app`` (each gets ``state`` and ``check_token``)
ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/download/([^/]+)/([^/]+)\.(npz|h5|tiff|png)", DownloadHandler),
    (r"/notebook/([^/]+)/([^/]+)\.ipynb", NotebookHandler),
]
