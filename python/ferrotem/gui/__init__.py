"""``ferrotem server``: the web GUI's server (tornado), its message protocol and its static
front end. See ``docs/gui.md``.

Nothing here is imported by ``import ferrotem``: tornado is needed only to serve the GUI.
"""

from __future__ import annotations

__all__: list[str] = []
