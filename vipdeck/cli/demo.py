"""`vipdeck demo`: the console on a self-built lab, no setup needed (root).

Builds the seed's dual-master LVS pair in network namespaces (two vipdeck
daemons named node1 and node2, two real web servers, a client requesting
both VIPs, a keepalived neighbour when installed; lab addresses
198.18.0.0/15 only), opens the console attached to node1's daemon with
node2's as a peer, and removes the whole lab when the console closes: on q,
Ctrl-C, SIGHUP or SIGTERM, and a signal during that removal does not stop
it.  ``--cleanup`` removes what a demo killed with SIGKILL left behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable

SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
# how long the console has to close after a hang-up before the demo removes the
# lab itself and exits (see _hang_up_watchdog)
HANG_UP_GRACE = 15.0


def add_arguments(p) -> None:
    p.add_argument("--screenshots", metavar="DIR",
                   help="instead of opening the console, save an SVG of every screen into DIR (headless)")
    p.add_argument("--uml", action="store_true",
                   help="with --screenshots: take them inside a user-mode Linux guest, whose kernel has IPVS "
                        "(for a machine whose kernel has none; needs the user-mode-linux package)")
    p.add_argument("--no-keepalived", action="store_true", help="do not start the keepalived neighbour")
    p.add_argument("--cleanup", action="store_true",
                   help="remove the namespaces, processes and temporary files of demos that were killed "
                        "(a running demo is left alone)")


def _say(msg: str) -> None:
    """stderr, which a closed terminal may have taken away."""
    try:
        print(msg, file=sys.stderr, flush=True)
    except OSError:
        pass


def run(args) -> int:
    if os.geteuid() != 0:
        _say("vipdeck demo: the demo builds network namespaces and needs root (try: sudo vipdeck demo)")
        return 1
    from vipdeck import demo_lab

    if args.cleanup:
        demo_lab.cleanup(report=lambda m: print(f"vipdeck demo --cleanup: {m}"))
        return 0

    if args.uml:
        if not args.screenshots:
            _say("vipdeck demo: --uml takes the screenshots in a guest; it needs --screenshots DIR")
            return 2
        return _screenshots_in_uml(args)

    prefix = demo_lab.demo_prefix()
    _say(f"building the demo lab (node1, node2, two real servers, a client) in namespaces {prefix}-*...")
    app = None
    demo = None
    hung_up: list[int] = []
    closing: list[bool] = []
    removal = threading.Lock()        # the clean-up runs once, whoever gets there first
    removed: list[bool] = []

    def remove_lab() -> None:
        with removal:
            if removed:
                return
            removed.append(True)
            if demo is not None:
                _say(f"removing the demo lab {prefix}-*...")
                demo.close()
            else:   # a signal during the build, wherever it landed: whatever of the lab exists
                demo_lab.remove(prefix)

    def hang_up(signum, _frame) -> None:
        """A closed terminal (SIGHUP), a kill (SIGTERM) or Ctrl-C before the
        console runs (SIGINT) still removes the lab: quit the console if it
        runs, otherwise unwind to the clean-up.  Once the clean-up has begun,
        or a first signal is being handled, a signal is only noted: it must
        not interrupt the removal half-way."""
        first = not hung_up
        hung_up.append(signum)
        if closing or not first:
            return
        if app is not None:
            # never raise once the console exists: the handler may run inside
            # Textual's own locking (its writer queue, while it shuts down after
            # the terminal went), and an exception there loses a wake-up and
            # hangs the exit for ever; run() returns 128 + signum after it
            if app.is_running:
                app.exit(128 + signum)
                threading.Thread(target=_hang_up_watchdog, name="demo-hang-up", daemon=True,
                                 args=(HANG_UP_GRACE, closing, remove_lab, 128 + signum)).start()
            return
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, hang_up) for sig in SIGNALS}
    try:
        demo = demo_lab.build(with_keepalived=not args.no_keepalived, prefix=prefix)
        if args.screenshots:
            return _screenshots(demo, args.screenshots)
        from vipdeck.cli.common import client as socket_client
        from vipdeck.cli.demo_console import DemoConsole

        app = DemoConsole(socket_client(demo.socket), demo, peers=demo.peer_sockets)
        app.run()
        return 128 + hung_up[0] if hung_up else int(app.return_code or 0)
    finally:
        closing.append(True)
        remove_lab()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _hang_up_watchdog(grace: float, closing: list, remove_lab: Callable[[], None], code: int,
                      wait: Callable[[float], object] | None = None,
                      exit: Callable[[int], object] = os._exit) -> bool:
    """After a hang-up the console is asked to exit; if ``grace`` seconds later
    it still has not (``closing`` empty: the clean-up has not begun), remove
    the lab from here and end the process with ``code``.  Seen once in a lab
    test run (tests/lab/test_demo.py): the demo still running 60 s after its
    terminal went, cause not found (the suspect: the console's exit waiting on
    a terminal that no longer exists); the lab's namespaces and daemons must not
    outlive it.  True if it had to act (``exit`` returned: only in tests)."""
    (wait or threading.Event().wait)(grace)
    if closing:
        return False            # the console closed: the clean-up is under way (or done) there
    _say(f"vipdeck demo: the console did not close within {grace:g} s of the hang-up; removing the lab")
    try:
        remove_lab()
    finally:
        exit(code)
    return True


def _screenshots(demo, out: str) -> int:
    """Pictures of a lab that has run a while: the client's traffic in the
    IPVS counters and rates, a real master change of VI_2 on the adverts
    timeline (node2 drained and undrained: VRID 52 goes to node1 and back;
    before that the seed's `down` file sends VI_1 to node2 and back), every
    router heard a few times."""
    import asyncio

    from vipdeck import demo_lab
    from vipdeck.cli.common import client as socket_client
    from vipdeck.cli.demo_console import DemoConsole
    from vipdeck.console.screenshots import take_screenshots
    from vipdeck.engine.lab.wait import wait_until

    client = socket_client(demo.socket)
    peer = socket_client(demo.peer_sockets[0])

    def snap(c=client) -> dict:
        return asyncio.run(c.snapshot())

    def state(c, name: str) -> str:
        return next(i["state"] for i in snap(c)["instances"] if i["name"] == name)

    wait_until(lambda: all(rs["state"] == "UP" for vs in snap()["virtual_servers"] for rs in vs["real_servers"]),
               30, what="real servers UP")
    # the seed's `down` file: VI_1 goes to node2 and comes back (node1 preempts), so node2 was heard on VRID 51
    demo.toggle_down()
    wait_until(lambda: state(peer, "VI_1") == "MASTER", 30, what="node2 takes VI_1 (node1 down by 20)")
    demo.toggle_down()
    wait_until(lambda: state(client, "VI_1") == "MASTER", 30, what="node1 takes VI_1 back")
    # a real master change on the wire: node2 resigns VRID 52 (priority 0), node1 takes it, node2 takes it back
    asyncio.run(peer.request("drain", reason="demo: a master change for the pictures"))
    wait_until(lambda: state(client, "VI_2") == "MASTER", 30, what="node1 takes VI_2 (node2 drained)")
    asyncio.run(peer.request("undrain"))
    wait_until(lambda: state(peer, "VI_2") == "MASTER", 30, what="node2 takes VI_2 back")

    def heard_enough() -> bool:
        s = snap()
        adverts = s["adverts"]
        # each router still speaking heard 5 times (node2 spoke for VRID 51 only during the change)
        speaking = [src for a in adverts for src in a["sources"] if (src.get("rate") or 0) > 0]
        if not speaking or not all((src.get("count") or 0) >= 5 for src in speaking):
            return False
        if not s["ipvs"]["available"]:
            return True
        # the client's connections counted and the kernel's rate estimator has run
        served = [rs for vs in s["virtual_servers"] if vs["address"] == demo_lab.VIP1 for rs in vs["real_servers"]]
        return all((rs.get("conns") or 0) > 0 for rs in served) and any((rs.get("cps") or 0) > 0 for rs in served)

    wait_until(heard_enough, 60, what="every router heard 5 times, the client's traffic counted")
    app = DemoConsole(client, demo, peers=demo.peer_sockets, frozen=True)
    paths = asyncio.run(take_screenshots(client, out, app=app, adverts_vrid=52))
    for p in paths:
        print(p)
    return 0


def _screenshots_in_uml(args) -> int:
    """Boot a user-mode Linux guest (kernel IPVS; engine/lab/uml.py) that
    runs this same demo's ``--screenshots`` into its run directory, then
    copy the pictures out: the guest writes nothing else of the host."""
    import shutil
    from pathlib import Path

    from vipdeck.engine.lab.uml import GUEST_DIR, run_in_uml, uml_missing

    missing = uml_missing()
    if missing:
        _say(f"vipdeck demo --uml: {missing}")
        return 1
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-m", "vipdeck", "demo", "--screenshots", f"{GUEST_DIR}/shots"]
    if args.no_keepalived:
        argv.append("--no-keepalived")
    _say("booting a user-mode Linux guest for the screenshots (IPVS in its kernel)...")
    result = run_in_uml(argv, cwd=root if (root / "setup.py").exists() else None, keep=True, timeout=300)
    try:
        if not result.ok:
            _say(f"vipdeck demo --uml: the guest's demo failed (exit {result.exit_code}, "
                 f"timed out: {result.timed_out}):\n{result.stderr[-3000:]}")
            return 1
        out = Path(args.screenshots)
        out.mkdir(parents=True, exist_ok=True)
        for svg in sorted((result.workdir / "shots").glob("*.svg")):
            shutil.copyfile(svg, out / svg.name)
            print(out / svg.name)
        _say(f"guest: boot {result.boot_seconds or 0:.1f}s, demo {result.command_seconds or 0:.1f}s")
        return 0
    finally:
        shutil.rmtree(result.workdir, ignore_errors=True)
