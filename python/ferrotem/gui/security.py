"""The server's two guards: the access token, and the file browser's root.

The token is compared in constant time. A path from a request is always taken *relative* to the
root, resolved with every symlink followed, and refused unless the result is still inside the
root: ``..``, absolute paths and symlinks that point out of the root all fail the same check.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

__all__ = [
    "PathOutsideRoot",
    "is_loopback_host",
    "make_token",
    "read_token_file",
    "resolve_in_root",
    "token_matches",
]

#: query argument and cookie that carry the token
TOKEN_NAME = "token"
COOKIE_NAME = "ferrotem_token"


class PathOutsideRoot(ValueError):
    """A requested path is absolute, or resolves outside the file browser's root."""


def make_token() -> str:
    """A fresh one-time token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token stored in ``path`` (surrounding whitespace stripped); refuses an empty one."""
    token = Path(path).read_text(encoding="utf-8").strip()
    if not token:
        raise ValueError(f"--token-path: {os.fsdecode(path)!r} holds no token")
    return token


def token_matches(expected: str | None, given: str | None) -> bool:
    """Whether ``given`` is the server's token; every request passes when the server runs
    without one (``--insecure``)."""
    if expected is None:
        return True
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` exposes the server to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_in_root(root: Path, relative: str) -> Path:
    """``relative`` (a path from a request, ``/``-separated, relative to ``root``) resolved,
    symlinks followed; raises :class:`PathOutsideRoot` unless it stays inside ``root``.

    ``root`` must already be resolved (``Path.resolve()``)."""
    if not isinstance(relative, str):
        raise PathOutsideRoot(f"path: got {relative!r}, expected a string relative to the root")
    if "\x00" in relative:
        raise PathOutsideRoot("path: contains a NUL byte")
    if relative.startswith(("/", "\\")) or os.path.isabs(relative) or Path(relative).drive:
        raise PathOutsideRoot(f"path: got {relative!r}; absolute paths are refused")
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise PathOutsideRoot(f"path: got {relative!r}, which leads outside the root")
    return candidate


def relative_to_root(root: Path, path: Path) -> str:
    """``path`` (inside ``root``) as the ``/``-separated string the protocol uses (``""`` for
    the root itself)."""
    rel = path.relative_to(root).as_posix()
    return "" if rel == "." else rel
