"""Console responsiveness with 255 VRIDs advertising 10 times a second.

Runs the real ConsoleApp (headless) over a scripted client whose snapshot
changes 10 times a second (255 VRIDs x 2 routers, every advert counter and
age moving), in two loads:

* ``engine``: what vipdeck's engine sends: adverts reach the console in
  snapshots, the event stream carries transitions and anomalies (10/s here);
* ``flap``: a cluster in trouble: a tenth of the instances change state on
  every snapshot, with their transition and VIP events (~500 events/s);
* ``flood``: the same as ``engine`` plus 2550 advert events a second in the
  stream (one per advert heard), a worst case no engine of ours produces;
  these three replay 20 ticks (snapshot and events) made before the
  measurement, so the console's loop does not also build snapshots;
* ``pair``: the cluster view: the ``engine`` load on the attached node and
  on a peer (its mirror: MASTER where the first is BACKUP) over its own
  connection, both snapshots changing 10 times a second (20 ticks made
  before the measurement and replayed, so the generator does not stall the
  console's loop); the overview then shows the 255 cluster rows.
  ``engine-ring``: the ``engine`` load replayed the same way, to compare.

Keys are injected as a terminal would deliver them (through the driver,
without the Pilot's waits for idleness), and the clock stops at the first
frame the compositor renders that shows the result.  Printed per load:

* key press -> frame on screen, per key (screen switches and cursor moves);
* cost per refresh: time to bring the visible screen up to date with one
  snapshot (``app.apply_cost``);
* frame cost: compositor render plus building the terminal output;
* event-loop lag (how late a 10 ms timer fires: what typing feels like);
* the console's CPU share, the load generator's own CPU excluded;
* snapshots offered versus shown (coalescing).

Numbers only; no thresholds.  Run: python benchmarks/console_responsiveness.py [--quick] [LOAD ...]
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import sys
import time

from textual import events
from textual.screen import Screen

from vipdeck.console.app import ConsoleApp
from vipdeck.console.testing import ScriptedClient, synthetic_snapshot

VRIDS, SOURCES, RATE = 255, 2, 10
RING = 20          # every load's snapshots, made ahead and replayed (2 s of ticks)
SECONDS = 8.0
SIZE = (160, 50)
SCREEN_KEYS = ["2", "1", "3", "4", "5", "2", "1", "2"]
TABS = {"1": "overview", "2": "adverts", "3": "vips", "4": "ipvs", "5": "events"}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


class FrameProbe:
    """Timestamps every frame the compositor renders (and what it costs).

    Headless apps skip the terminal write, so the probe builds the output
    a terminal would receive, to count that cost too."""

    def __init__(self, app: ConsoleApp):
        self.app = app
        self.frames = 0
        self.frame_costs: list[float] = []
        self.waiters: list[tuple[object, asyncio.Future]] = []
        original = Screen._compositor_refresh
        probe = self

        def refresh(screen: Screen) -> None:
            started = time.perf_counter()
            original(screen)
            probe.frame_costs.append(time.perf_counter() - started)
            probe.frames += 1
            now = time.perf_counter()
            for cond, fut in list(probe.waiters):
                if not fut.done() and cond():
                    fut.set_result(now)
                    probe.waiters.remove((cond, fut))

        self._original = original
        Screen._compositor_refresh = refresh

        original_display = app._display

        def display(screen, renderable) -> None:
            if renderable is not None and hasattr(renderable, "render_segments"):
                started = time.perf_counter()
                renderable.render_segments(app.console)
                if probe.frame_costs:
                    probe.frame_costs[-1] += time.perf_counter() - started
            original_display(screen, renderable)

        app._display = display

    def close(self) -> None:
        Screen._compositor_refresh = self._original

    def next_frame_where(self, cond) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append((cond, fut))
        return fut


def send_key(app: ConsoleApp, key: str) -> None:
    ev = events.Key(key, key if len(key) == 1 else None)
    ev.set_sender(app)
    app._driver.send_message(ev)


async def measure(client, title: str, generate=None, seconds: float | None = None, peers=()) -> None:
    """Drive the console over ``client`` and print the figures.  ``generate``:
    an optional coroutine function (stop time) -> CPU seconds it spent;
    ``peers``: (address, client) of the other nodes (the cluster view)."""
    seconds = seconds or SECONDS
    app = ConsoleApp(client, frozen=True, peers=list(peers))
    gen_cpu = 0.0
    lags: list[float] = []
    async with app.run_test(size=SIZE, headless=True) as pilot:
        probe = FrameProbe(app)
        while app.version == 0:
            await asyncio.sleep(0.05)
        await pilot.pause()
        stop = time.perf_counter() + seconds
        costs: list[float] = []
        versions_at_start = app.version
        fetches_at_start = app.feed.fetch_count
        seq_at_start = app.feed.last_seq
        peer_fetches_at_start = sum(p.feed.fetch_count for p in app.peer_links)

        async def lag() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - t - 0.01)

        async def sample_costs() -> None:
            last = None
            while time.perf_counter() < stop:
                if app.apply_cost != last:
                    costs.append(app.apply_cost)
                    last = app.apply_cost
                await asyncio.sleep(0.02)

        async def no_load(_stop: float) -> float:
            return 0.0

        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        gen = asyncio.create_task((generate or no_load)(stop))
        background = [asyncio.create_task(c()) for c in (lag, sample_costs)]
        presses: list[tuple[str, float]] = []
        await asyncio.sleep(1.0)
        for key in SCREEN_KEYS + ["down", "down", "up"]:
            if key in TABS:
                tab = TABS[key]
                cond = (lambda t=tab: app.active_tab == t
                        and (t == "events" or app.view(t).shown_version == app.version))
            else:
                table = app.active_view().main_table()
                target = max(0, min(table.cursor_row + (1 if key == "down" else -1), table.row_count - 1))
                cond = lambda t=table, r=target: t.cursor_row == r
            fut = probe.next_frame_where(cond)
            t0 = time.perf_counter()
            send_key(app, key)
            try:
                t1 = await asyncio.wait_for(fut, 10)
                presses.append((key, t1 - t0))
            except asyncio.TimeoutError:
                presses.append((key, float("inf")))
            await asyncio.sleep(0.5)
        await asyncio.gather(*background)
        gen_cpu = await gen
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        shown = app.version - versions_at_start
        fetched = app.feed.fetch_count - fetches_at_start
        received = app.feed.last_seq - seq_at_start
        peer_fetched = sum(p.feed.fetch_count for p in app.peer_links) - peer_fetches_at_start
        cluster_rows = len(app.cluster)
        probe.close()

    print(f"== {title}, {SIZE[0]}x{SIZE[1]} terminal")
    for key, dt in presses:
        print(f"  key {key:>4} -> frame: {ms(dt)}")
    lat = [dt for _, dt in presses]
    print(f"  key press -> frame: median {ms(statistics.median(lat))}, max {ms(max(lat))}")
    if costs:
        print(f"  cost per refresh: median {ms(statistics.median(costs))}, p95 {ms(pct(costs, 0.95))}, "
              f"max {ms(max(costs))} ({len(costs)} samples)")
    fc = probe.frame_costs
    if fc:
        print(f"  frame cost: median {ms(statistics.median(fc))}, p95 {ms(pct(fc, 0.95))}, max {ms(max(fc))} "
              f"({len(fc)} frames)")
    print(f"  event-loop lag: median {ms(statistics.median(lags))}, p99 {ms(pct(lags, 0.99))}, max {ms(max(lags))}")
    extra = f" (load generator {100 * gen_cpu / wall:.0f}% excluded)" if generate else ""
    print(f"  console CPU: {100 * (cpu - gen_cpu) / wall:.0f}% of one core{extra}")
    print(f"  snapshots fetched {fetched}, shown {shown}, events received {received} in {wall:.1f} s")
    if peers:
        print(f"  peer snapshots fetched and shown {peer_fetched}; cluster rows {cluster_rows}")


Event = tuple[tuple, dict]     # push_event's positional and keyword arguments


def flap(snap: dict, rng: random.Random) -> list[Event]:
    """One tenth of the instances change state (a cluster in trouble); returns
    the transition and VIP events a daemon would send with that snapshot."""
    evs: list[Event] = []
    for inst in snap["instances"]:
        if rng.random() < 0.1:
            inst["state"] = "MASTER" if inst["state"] == "BACKUP" else "BACKUP"
            inst["last_transition"]["time"] = snap["node"]["now"]
            evs.append((("transition", f"{inst['name']} -> {inst['state']}"),
                        {"instance": inst["name"], "to": inst["state"]}))
            evs.append((("vip", f"{inst['name']}: VIPs moved"), {"instance": inst["name"]}))
    return evs


def ring_of_ticks(load: str) -> list[tuple[dict, list[Event]]]:
    """``RING`` ticks of the ``engine``, ``flap`` or ``flood`` load, each a
    snapshot and the events that go with it (flood's advert events are the
    same every tick and are sent by the replay itself)."""
    rng = random.Random(7)
    ring = []
    for tick in range(1, RING + 1):
        snap = synthetic_snapshot(VRIDS, SOURCES, tick=tick)
        if load == "flap":
            evs = flap(snap, rng)
        else:
            evs = [(("transition", f"VI_{tick % VRIDS + 1} BACKUP → MASTER", "warning"),
                    {"instance": f"VI_{tick % VRIDS + 1}"})]
        ring.append((snap, evs))
    return ring


def with_vips(snap: dict) -> dict:
    """The masters' VIPs in the node's kernel (its interface addresses), as a daemon reports them."""
    snap["node"]["interfaces"][0]["addresses"] += [v["address"] for i in snap["instances"]
                                                  if i["state"] == "MASTER" for v in i["vips"]]
    return snap


def mirrored(snap: dict) -> dict:
    """The same pair seen from the other node: its hostname and address, and
    MASTER where ``snap``'s node is BACKUP (its VIPs in its kernel)."""
    node = snap["node"]
    node.update(hostname="bench2", router_id="bench2")
    itf = node["interfaces"][0]
    itf.update(mac="02:00:c6:12:00:02", addresses=["198.18.0.2/24"])
    for inst in snap["instances"]:
        master = inst["state"] != "MASTER"
        inst["state"] = "MASTER" if master else "BACKUP"
        inst["wire"]["source"] = "198.18.0.2"
        for v in inst["vips"]:
            v["present"] = master
            if master:
                itf["addresses"].append(v["address"])
        m = inst["master"]
        if master:
            inst["master"] = {"address": None, "priority": None, "interval": None, "last_advert_age": None,
                              "mac": None}
        else:
            inst["master"] = {**m, "address": "198.18.0.1", "priority": 100, "last_advert_age": 0.02}
    return snap


async def run(load: str) -> None:
    if load in ("pair", "engine-ring"):
        return await run_pair(peer=load == "pair")
    client = ScriptedClient(synthetic_snapshot(VRIDS, SOURCES, tick=0))
    # made before the clock starts, as the pair's are: building a 255-VRID snapshot (and, for
    # flap, deciding which instances move) every 0.1 s on the console's own loop would partly
    # measure the load generator; each tick is its snapshot and the events sent with it
    ring = ring_of_ticks(load)
    gc.freeze()     # ... and kept out of the collector's scans (the console's own objects are not)

    async def generate(stop: float) -> float:
        cpu = 0.0
        tick = 0
        while time.perf_counter() < stop:
            c0 = time.process_time()
            tick += 1
            snap, evs = ring[tick % RING]
            for args, fields in evs:
                client.push_event(*args, **fields)
            client.set_snapshot(snap)
            if load == "flood":
                for vrid in range(1, VRIDS + 1):   # one tenth of a second of adverts
                    client.push_event("advert", f"vrid {vrid} advert", vrid=vrid, flag="seen")
            cpu += time.process_time() - c0
            await asyncio.sleep(1 / RATE)
        return cpu

    events = {"flood": f"{VRIDS * RATE} advert events/s", "flap": "10% of instances changing state every 0.1 s"}
    await measure(client, f"load {load} (scripted engine, replayed): {VRIDS} VRIDs x {SOURCES} sources, "
                          f"{RATE} snapshots/s, {events.get(load, f'{RATE} events/s')}", generate)


async def run_pair(peer: bool = True) -> None:
    node1 = ScriptedClient(with_vips(synthetic_snapshot(VRIDS, SOURCES, tick=0)))
    node2 = ScriptedClient(mirrored(synthetic_snapshot(VRIDS, SOURCES, tick=0)))

    # made before the clock starts: building two 255-VRID snapshots every 0.1 s on the
    # console's own loop would measure the load generator, not the console
    ring = [(with_vips(synthetic_snapshot(VRIDS, SOURCES, tick=t)), mirrored(synthetic_snapshot(VRIDS, SOURCES, tick=t)))
            for t in range(1, RING + 1)]
    gc.freeze()     # ... and kept out of the collector's scans (the console's own objects are not)

    async def generate(stop: float) -> float:
        cpu = 0.0
        tick = 0
        while time.perf_counter() < stop:
            c0 = time.process_time()
            tick += 1
            for c, snap in list(zip((node1, node2), ring[tick % RING]))[:2 if peer else 1]:
                c.set_snapshot(snap)
                c.push_event("transition", f"VI_{tick % VRIDS + 1} BACKUP → MASTER", "warning",
                             instance=f"VI_{tick % VRIDS + 1}")
            cpu += time.process_time() - c0
            await asyncio.sleep(1 / RATE)
        return cpu

    if not peer:
        await measure(node1, f"load engine-ring (scripted engine, replayed): {VRIDS} VRIDs x {SOURCES} sources, "
                             f"{RATE} snapshots/s, {RATE} events/s", generate)
        return
    await measure(node1, f"load pair (scripted engines, replayed): 2 nodes x {VRIDS} VRIDs x {SOURCES} sources, "
                         f"{RATE} snapshots/s and {RATE} events/s per node, cluster view", generate,
                  peers=[("/run/vipdeck/bench2.sock", node2)])


LOADS = ("engine", "flap", "flood", "engine-ring", "pair")


async def main(loads: list[str]) -> None:
    for load in loads:
        await run(load)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "-h" in args or "--help" in args:
        print(__doc__)
        sys.exit(0)
    unknown = [a for a in args if a != "--quick" and a not in LOADS]
    if unknown:
        sys.exit(f"console_responsiveness.py: unknown load or option {unknown[0]!r} "
                 f"(loads: {', '.join(LOADS)}; option: --quick)")
    if "--quick" in args:       # the smoke test's run: 20 VRIDs, a short window
        args.remove("--quick")
        VRIDS, RING, SECONDS = 20, 3, 3.0
    asyncio.run(main(args or list(LOADS)))
