"""Many real servers in one process, for the checker benchmarks.

Listens on PORT_BASE .. PORT_BASE+N-1 of ADDRESS (run it inside a lab node),
accepts every connection, answers an HTTP request with a tiny 200 (mode
``http``) or just closes (``tcp``), and notes when each port was connected
to.  It is the outside observer of "checked on time": the gap between two
connections to one port is that real server's check interval, whoever the
checker is (vipdeck or keepalived).

It serves from the start; a line ``go`` on stdin starts a measuring window
of ``--window`` seconds (the caller sends it once the checker under test is
up and warm), after which it prints one JSON line: per-port connection gaps
inside the window and the window's length.
Run: python _backend.py ADDRESS PORT_BASE N MODE --window W
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sys
import time

RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("port_base", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("mode", choices=("tcp", "http"))
    ap.add_argument("--window", type=float, default=10.0)
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.address, a.port_base + i))
        s.listen(128)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("listen", a.port_base + i))
    sel.register(sys.stdin, selectors.EVENT_READ, ("stdin", 0))
    print("ready", flush=True)

    last: dict[int, float] = {}
    gaps: dict[int, list[float]] = {}
    w_start = w_end = float("inf")
    http = a.mode == "http"
    while True:
        now = time.monotonic()
        if now >= w_end:
            break
        for key, _ in sel.select(timeout=min(0.2, max(0.0, w_end - now))):
            what, port = key.data
            if what == "stdin":
                line = sys.stdin.readline()
                if not line:
                    sel.unregister(sys.stdin)
                    if w_end == float("inf"):
                        return 1                # the caller went away before any window
                    continue
                if line.strip() == "go":
                    w_start = time.monotonic()
                    w_end = w_start + a.window
                continue
            if what == "listen":
                while True:
                    try:
                        c, _peer = key.fileobj.accept()
                    except BlockingIOError:
                        break
                    t = time.monotonic()
                    if t >= w_start and port in last:
                        gaps.setdefault(port, []).append(t - last[port])
                    last[port] = t
                    if http:
                        c.setblocking(False)
                        sel.register(c, selectors.EVENT_READ, ("conn", port))
                    else:
                        c.close()
            else:
                c = key.fileobj
                try:
                    data = c.recv(4096)
                except OSError:
                    data = b""
                if data and b"\r\n\r\n" not in data:
                    continue          # the rest of the request comes next
                sel.unregister(c)
                if data:
                    try:
                        c.send(RESPONSE)
                    except OSError:
                        pass
                c.close()
    json.dump({"window": [0.0, a.window], "gaps": {str(p): g for p, g in gaps.items()},
               "seen": sorted(last)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
