"""Console responsiveness with 255 VRIDs advertising 10 times a second.

Drives the real ConsoleApp (headless, Textual's Pilot) over a scripted
client whose snapshot changes and whose event stream carries 2550 advert
events per second, then prints:

* key press → screen updated: for each screen key, the time until that
  screen shows the newest snapshot;
* cost per refresh: the time the app took to show one snapshot
  (``app.apply_cost``), over the run;
* how many snapshots were shown versus offered (coalescing).

Numbers only; no thresholds.  Run: python benchmarks/console_responsiveness.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from console.app import ConsoleApp
from console.testing import ScriptedClient, synthetic_snapshot

VRIDS, SOURCES, RATE = 255, 2, 10
SECONDS = 6.0


async def main() -> None:
    client = ScriptedClient(synthetic_snapshot(VRIDS, SOURCES, tick=0))
    app = ConsoleApp(client, frozen=True)
    costs: list[float] = []
    offered = 0
    async with app.run_test(size=(160, 50), headless=True) as pilot:
        while app.version == 0:
            await pilot.pause(0.05)
        stop = time.perf_counter() + SECONDS

        async def load() -> None:
            nonlocal offered
            tick = 0
            while time.perf_counter() < stop:
                tick += 1
                client.set_snapshot(synthetic_snapshot(VRIDS, SOURCES, tick=tick))
                offered += 1
                for vrid in range(1, VRIDS + 1):  # one tenth of a second of adverts
                    client.push_event("advert", f"vrid {vrid} advert", vrid=vrid, flag="seen")
                await asyncio.sleep(1 / RATE)

        loader = asyncio.create_task(load())
        presses = []
        last_cost = None
        keys = ["2", "1", "3", "4", "5", "2", "1", "2"]
        for key in keys:
            await pilot.pause(0.4)
            if app.apply_cost != last_cost:
                costs.append(app.apply_cost)
                last_cost = app.apply_cost
            tab = {"1": "overview", "2": "adverts", "3": "vips", "4": "ipvs", "5": "events"}[key]
            t0 = time.perf_counter()
            await pilot.press(key)
            while not (app.view(tab).shown_version == app.version or tab == "events"):
                await pilot.pause(0.005)
            presses.append((key, time.perf_counter() - t0))
        while time.perf_counter() < stop:
            await pilot.pause(0.1)
            if app.apply_cost != last_cost:
                costs.append(app.apply_cost)
                last_cost = app.apply_cost
        await loader
        shown = app.version
    print(f"load: {VRIDS} VRIDs x {SOURCES} sources, {RATE} snapshots/s offered, {VRIDS * RATE} advert events/s")
    for key, dt in presses:
        print(f"key {key} -> screen updated: {dt * 1000:7.1f} ms")
    lat = [dt for _, dt in presses]
    print(f"key press -> update: median {statistics.median(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms")
    if costs:
        print(f"cost per refresh: median {statistics.median(costs) * 1000:.1f} ms, max {max(costs) * 1000:.1f} ms "
              f"({len(costs)} samples)")
    print(f"snapshots offered {offered}, shown {shown} (coalesced)")


if __name__ == "__main__":
    asyncio.run(main())
