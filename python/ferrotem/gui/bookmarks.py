"""File-browser bookmarks: directories under the root that a user wants to come back to.

They are kept in a small JSON file (``$FERROTEM_GUI_BOOKMARKS`` if set, else
``ferrotem/gui-bookmarks.json`` in the user's config directory: ``$XDG_CONFIG_HOME`` or
``~/.config``; ``%APPDATA%`` on Windows) as absolute paths, so that they survive restarts and
servers with different roots share the file: each server lists only the bookmarks inside its
own root, as paths relative to it. Adding one goes through the same check as browsing
(relative to the root, symlinks resolved, never outside it).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from ferrotem.gui.protocol import ProtocolError
from ferrotem.gui.security import PathOutsideRoot, relative_to_root, resolve_in_root

__all__ = ["MAX_BOOKMARKS", "Bookmarks", "default_bookmarks_file"]

#: bookmarks kept at most (over all roots), and the longest name: the file stays small
MAX_BOOKMARKS = 200
_MAX_NAME = 100


def default_bookmarks_file() -> Path:
    """Where bookmarks are kept (see the module's text)."""
    override = os.environ.get("FERROTEM_GUI_BOOKMARKS")
    if override:
        return Path(override)
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "ferrotem" / "gui-bookmarks.json"


class Bookmarks:
    """The bookmarks of a server whose file browser shows ``root`` (already resolved)."""

    def __init__(self, root: Path, file: Path | None = None):
        self.root = root
        self.file = default_bookmarks_file() if file is None else file
        self._lock = threading.Lock()

    # -- requests ---------------------------------------------------------------------------
    def show(self, request: dict[str, Any]) -> dict[str, Any]:
        """``list_bookmarks``: the bookmarks inside this root."""
        with self._lock:
            return self._reply(self._load())

    def add(self, request: dict[str, Any]) -> dict[str, Any]:
        """``add_bookmark``: ``path`` (a directory, relative to the root), ``name``
        (optional; default: the directory's name)."""
        target = self._directory(request.get("path"))
        name = request.get("name")
        if name is None:
            name = target.name or "/"
        if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
            raise ProtocolError(
                f"name: got {name!r}, expected a non-empty text of at most {_MAX_NAME} characters",
                "name",
            )
        with self._lock:
            entries = [e for e in self._load() if e["path"] != str(target)]
            if len(entries) >= MAX_BOOKMARKS:
                raise ProtocolError(f"bookmarks: at most {MAX_BOOKMARKS} are kept; remove one")
            entries.append({"name": name.strip(), "path": str(target)})
            self._save(entries)
            return self._reply(entries)

    def remove(self, request: dict[str, Any]) -> dict[str, Any]:
        """``remove_bookmark``: ``path`` (relative to the root, as listed)."""
        rel = request.get("path")
        if not isinstance(rel, str):
            raise ProtocolError(f"path: got {rel!r}, expected a bookmark's path", "path")
        target = self._resolve(rel)
        with self._lock:
            entries = self._load()
            kept = [e for e in entries if e["path"] != str(target)]
            if len(kept) == len(entries):
                raise ProtocolError(f"path: {rel!r} is not bookmarked", "path")
            self._save(kept)
            return self._reply(kept)

    # -- helpers ----------------------------------------------------------------------------
    def _resolve(self, rel: Any) -> Path:
        try:
            return resolve_in_root(self.root, rel)
        except PathOutsideRoot as e:
            raise ProtocolError(str(e), "path") from None

    def _directory(self, rel: Any) -> Path:
        target = self._resolve(rel)
        if not target.is_dir():
            raise ProtocolError(f"path: {rel!r} is not a directory", "path")
        return target

    def _reply(self, entries: list[dict[str, str]]) -> dict[str, Any]:
        shown = []
        for entry in entries:
            path = Path(entry["path"])
            if (path == self.root or self.root in path.parents) and path.is_dir():
                shown.append({"name": entry["name"], "path": relative_to_root(self.root, path)})
        return {"type": "bookmarks", "bookmarks": shown}

    def _load(self) -> list[dict[str, str]]:
        """The stored bookmarks (all roots); a missing or unreadable file holds none."""
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        entries = data.get("bookmarks") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return []
        return [
            {"name": e["name"], "path": e["path"]}
            for e in entries
            if isinstance(e, dict) and isinstance(e.get("name"), str)
            and isinstance(e.get("path"), str) and os.path.isabs(e["path"])
        ]  # fmt: skip

    def _save(self, entries: list[dict[str, str]]) -> None:
        """Writes the file whole and renames it into place (a crash leaves the old one)."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(self.file.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "bookmarks": entries}, indent=1), "utf-8")
        os.replace(tmp, self.file)
