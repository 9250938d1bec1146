"""The websocket requests about a tab's outputs and the server's settings, answered on a
request thread like the file requests:

- ``session`` -> ``session``: ``session`` (this tab's id, for download URLs);
- ``list_results`` -> ``results``: ``results``, one entry per complete analysis
  (``analysis_id``, ``kind``, ``dataset``, ``channels``);
- ``list_bookmarks``, ``add_bookmark`` (``path``, ``name``), ``remove_bookmark`` (``path``)
  -> ``bookmarks``: ``bookmarks`` (``name``, ``path``) (:mod:`.bookmarks`);
- ``get_resources``, ``set_resources`` (``kind``: ``embedded``/``dask``, ``address``)
  -> ``resources``: ``kind``, ``address``, ``workers`` (:mod:`.resources`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["tab_requests"]

Request = Callable[[dict[str, Any]], dict[str, Any]]


def tab_requests(handler: Any) -> dict[str, Request]:
    """The request types this module answers for ``handler`` (a connected websocket handler
    with ``state``, ``session`` and ``session_id``), by request type."""
    session = handler.session

    def session_id(request: dict[str, Any]) -> dict[str, Any]:
        return {"type": "session", "session": handler.session_id}

    def list_results(request: dict[str, Any]) -> dict[str, Any]:
        results = [
            {
                "analysis_id": aid,
                "kind": r.analysis.get("type"),
                "dataset": r.dataset_id,
                "channels": sorted(r.channels),
            }
            for aid, r in sorted(dict(session.results).items())
        ]
        return {"type": "results", "results": results}

    state = handler.state
    return {
        "session": session_id,
        "list_results": list_results,
        "list_bookmarks": state.bookmarks.show,
        "add_bookmark": state.bookmarks.add,
        "remove_bookmark": state.bookmarks.remove,
        "get_resources": state.resources.describe,
        "set_resources": state.resources.choose,
    }
