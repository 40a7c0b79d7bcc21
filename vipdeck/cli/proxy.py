"""`vipdeck proxy`: this node's control socket on stdin/stdout, for ssh.

The console reaches a peer with ``ssh HOST vipdeck proxy``, as ``docker -H
ssh://`` runs ``docker system dial-stdio``: OpenSSH authenticates, this
relays bytes both ways and nothing else (no protocol, no authentication of
our own).  The daemon sees the ssh user through SO_PEERCRED, so its socket
permissions decide: read-only for the socket's group, changes for root.
Our stdin's end half-closes the socket (a pending reply still comes back);
the socket's end ends us.  Errors go to stderr, which ssh carries back.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

from vipdeck.cli.common import add_socket

CHUNK = 65536


def add_arguments(p) -> None:
    add_socket(p, remote=False)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def relay(sock: socket.socket, fd_in: int, fd_out: int) -> None:
    """Copy fd_in → sock and sock → fd_out until the socket closes."""
    sel = selectors.DefaultSelector()
    sel.register(fd_in, selectors.EVENT_READ, "in")
    sel.register(sock, selectors.EVENT_READ, "sock")
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "in":
                    data = os.read(fd_in, CHUNK)
                    if not data:
                        sel.unregister(fd_in)
                        sock.shutdown(socket.SHUT_WR)
                        continue
                    sock.sendall(data)
                else:
                    data = sock.recv(CHUNK)
                    if not data:
                        return
                    _write_all(fd_out, data)
    finally:
        sel.close()


def run(args) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args.socket)
    except FileNotFoundError:
        print(f"vipdeck proxy: no daemon control socket at {args.socket}", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"vipdeck proxy: permission denied on {args.socket}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"vipdeck proxy: cannot connect to {args.socket}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        relay(sock, sys.stdin.fileno(), sys.stdout.fileno())
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return 0
