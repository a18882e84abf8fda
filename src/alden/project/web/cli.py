"""`alden serve PROJECT`: the labeling page on a local web server (uvicorn).

The address is printed when the server is listening (with ``--port 0`` the system picks a
free port). On 127.0.0.1 (the default) no token is needed; on any other address a fresh
access token is made and printed in the URL, and requests without it are refused. One server
per project: a second one on the same project refuses, naming the first one's address.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import TYPE_CHECKING

from alden.cli_types import whole
from alden.errors import AldenError
from alden.project.locks import server_lock

if TYPE_CHECKING:
    import uvicorn

    from alden.project.web.security import Guard

DESCRIPTION = """Label a project in a browser: a local web page on the project's database (the
commands keep working on it meanwhile). The address is printed once the server listens; with
--port 0 the system picks a free port. On 127.0.0.1 (the default) no token is needed; on any
other address a new access token is made at each start and printed in the address, and
requests without it are refused. One server per project: a second one refuses, naming the
address of the first."""


def cmd_serve(args: argparse.Namespace) -> int:
    """`alden serve`: label in a browser."""
    try:
        import uvicorn

        from alden.project.web.app import create_app
        from alden.project.web.security import Guard
    except ImportError as err:
        raise AldenError(f"`alden serve` needs the web packages ({err.name} is missing): "
                         f"pip install 'alden[web]'") from None
    guard = Guard.for_host(args.host)
    app = create_app(args.project, host=args.host, annotator=args.annotator, k=args.k,
                     guard=guard)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as err:
        sock.close()
        raise AldenError(f"cannot listen on {args.host}:{args.port}: {err.strerror}") from None
    sock.listen(2048)  # connections wait in the backlog from now on, none is refused
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    address = f"http://{shown}:{port}/"
    url = address + (f"?token={guard.token}" if guard.token else "")
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=False,
                                           timeout_graceful_shutdown=2))
    try:
        with server_lock(args.project, address):  # one server per project (never the token)
            _run(server, sock, args.project, url, guard)
    finally:
        sock.close()
    print("stopped.", file=sys.stderr)
    return 0


def _run(server: uvicorn.Server, sock: socket.socket, project: str, url: str,
         guard: Guard) -> None:
    """Serve on the listening ``sock`` until Ctrl-C, saying where first."""
    print(f"serving {project} at {url}", flush=True)
    if guard.token:
        print("this address is reachable from other machines: the page needs the token in "
              "the address above (keep it private; a new one is made at each start)",
              flush=True)
    print("press Ctrl-C to stop; every label is saved the moment it is given", flush=True)
    server.run(sockets=[sock])


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add `serve` to the `alden` command."""
    p = sub.add_parser("serve", help="label in a browser: a local web page on the project",
                       description=DESCRIPTION)
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                   help="address to listen on (default 127.0.0.1: this machine only; any "
                   "other needs the access token printed at start)")
    p.add_argument("--port", type=whole(0, 65535), default=8765, metavar="N",
                   help="port (default 8765; 0: any free port, printed)")
    p.add_argument("--annotator", metavar="NAME",
                   help="the name labels are given under until a visitor gives theirs")
    p.add_argument("--k", type=whole(1, 1000), default=10, metavar="N",
                   help="items per batch for \"Train and pick the next batch\" (default 10)")
    p.add_argument("--log-level", default="warning",
                   choices=("critical", "error", "warning", "info", "debug"),
                   help="what the server logs (default warning)")
    p.set_defaults(func=cmd_serve)
