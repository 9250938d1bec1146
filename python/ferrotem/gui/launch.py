"""``ferrotem server``: checks the options, binds the socket, prints the URL, serves."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import webbrowser
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ferrotem.gui.security import is_loopback_host, make_token, read_token_file, resolve_in_root

__all__ = ["add_server_arguments", "bind", "choose_token", "run_server", "server_url"]

#: the port tried first when none is given
DEFAULT_PORT = 9000


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ferrotem server``."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (default {DEFAULT_PORT}, or a free one if that is taken)",
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=None,
        help="worker threads of the embedded executor (default: all cores)",
    )
    parser.add_argument(
        "--open-ds",
        default=None,
        metavar="PATH",
        help="a file (inside --root) to open when the page loads",
    )
    parser.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="open the page in a web browser (default: yes)",
    )
    parser.add_argument(
        "--token-path",
        default=None,
        help="file holding the access token (default: a fresh one-time token)",
    )
    parser.add_argument(
        "--root",
        default=".",
        help="directory the file browser shows; it cannot leave it (default: .)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve without any token (needed to bind a public interface "
        "without --token-path); anyone who can reach the port can read files",
    )


def choose_token(host: str, token_path: str | None, insecure: bool) -> str | None:
    """The token requests must carry (None: none, only with ``--insecure``). Binding anything
    but a loopback interface needs a token file the operator chose, or ``--insecure``."""
    if insecure:
        return None
    if token_path is not None:
        return read_token_file(token_path)
    if not is_loopback_host(host):
        raise ValueError(
            f"--host {host}: binding a non-loopback interface needs --token-path FILE (a token "
            "you chose) or --insecure (no token at all)"
        )
    return make_token()


def bind(host: str, port: int | None) -> list[socket.socket]:
    """Listening sockets on ``host``: ``port``, or 9000, or a free port if 9000 is taken."""
    from tornado.netutil import bind_sockets

    if port is not None:
        return bind_sockets(port, host)
    try:
        return bind_sockets(DEFAULT_PORT, host)
    except OSError:
        return bind_sockets(0, host)


def server_url(host: str, port: int, token: str | None, open_ds: str | None = None) -> str:
    """The page's URL, with the token (and the file to open) in it."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/"
    if token is not None:
        url += f"?token={quote(token)}"
    if open_ds is not None:
        url += f"#open={quote(open_ds)}"
    return url


def run_server(args: Any) -> int:
    """Starts the server with the parsed ``ferrotem server`` options; returns the exit code."""
    from tornado.httpserver import HTTPServer

    from ferrotem.api import Context
    from ferrotem.gui.server import ServerConfig, ServerState, make_app

    root = Path(args.root).resolve()
    if not root.is_dir():
        print(f"ferrotem server: --root {args.root!r} is not a directory", file=sys.stderr)
        return 2
    try:
        token = choose_token(args.host, args.token_path, args.insecure)
    except (ValueError, OSError) as e:
        print(f"ferrotem server: {e}", file=sys.stderr)
        return 2
    open_ds = None
    if args.open_ds is not None:
        try:
            rel = os.path.relpath(Path(args.open_ds).resolve(), root)
            open_ds = resolve_in_root(root, rel).relative_to(root).as_posix()
        except ValueError:
            print(
                f"ferrotem server: --open-ds {args.open_ds!r} is not inside --root", file=sys.stderr
            )
            return 2
    if args.cpus is not None and args.cpus < 1:
        print(f"ferrotem server: --cpus {args.cpus}: expected at least 1", file=sys.stderr)
        return 2
    ctx = Context.make_with("threads", cpus=args.cpus)
    state = ServerState(ctx, ServerConfig(root=root, token=token, cpus=args.cpus))
    try:
        sockets = bind(args.host, args.port)
    except OSError as e:
        print(f"ferrotem server: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    port = sockets[0].getsockname()[1]
    url = server_url(args.host, port, token, open_ds)

    async def serve() -> None:
        server = HTTPServer(make_app(state))
        server.add_sockets(sockets)
        print(f"ferrotem server: serving {root} at\n    {url}", flush=True)
        if token is None:
            print("ferrotem server: WARNING: --insecure, no token is checked", flush=True)
        if args.browser:
            webbrowser.open(url)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        state.close()
        ctx.close()
    return 0
