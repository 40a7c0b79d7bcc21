"""The adverts screen's incremental rendering shows what a fresh one would.

``AdvertsView.render_view`` keeps work from one snapshot to the next (the
VRIDs' order while the views are the same, row signatures without the node's
address set, our own source made only where it is missing, sources sorted
only when out of order).  Each shortcut could leave a row stale or out of
place, so a seeded sequence of snapshot changes is rendered incrementally on
one mounted view and, after every step, each row is compared with the rows
made from scratch by the plain algorithm (every VRID sorted, with_ourselves,
every source sorted, every cell made).
"""

from __future__ import annotations

import contextlib
import copy
import random

from rich.text import Text

from vipdeck.console.app import ConsoleApp
from vipdeck.console.derive import SnapView
from vipdeck.console.testing import ScriptedClient, settle, synthetic_snapshot
from vipdeck.console.views.adverts import (entries, entry_key, flags_cell, rejected_row, source_row,
                                           with_ourselves)
from vipdeck.console.widgets.keyed_table import EAGER_ROWS, KeyedTable

VRIDS = 60          # 120 rows: more than EAGER_ROWS, so the lazy rows are made on demand
SIZE = (160, 50)


def reference_rows(sv: SnapView) -> list[tuple[str, tuple]]:
    """The rows as made from nothing: what the screen must show."""
    out = []
    for entry in sorted(entries(sv), key=lambda a: (a.get("vrid") or 0, a.get("family") or 4,
                                                     a.get("interface") or "")):
        ek = entry_key(entry)
        master = entry.get("master")
        flags = entry.get("flags") or []
        for s in sorted(with_ourselves(sv, entry), key=lambda s: (s.get("address") != master,
                                                                  -(s.get("priority") or 0),
                                                                  str(s.get("address")))):
            out.append((f"{ek}|{s.get('address')}", source_row(sv, entry, s, flags_cell(flags))))
        for r in entry.get("rejected_sources") or []:
            out.append((f"{ek}|rejected|{r.get('address')}", rejected_row(entry, r)))
    return out


def plain(cells) -> tuple:
    """Cells as comparable values: a Text's text, base style and spans
    (Text's own == ignores the base style, which colours a priority 0)."""
    return tuple((c.plain, str(c.style), tuple((s.start, s.end, str(s.style)) for s in c.spans))
                 if isinstance(c, Text) else c for c in cells)


def mutate(snap: dict, rng: random.Random, step: int) -> str:
    """One change a daemon's next snapshot could bring; returns what it was."""
    adverts = snap["adverts"]
    a = rng.choice(adverts) if adverts else None
    kind = step % 10
    if a is None or kind == 0:
        for s in (a or {}).get("sources", []):
            s["count"] = (s.get("count") or 0) + 10
        return "counters"
    if kind == 1:
        s = rng.choice(a["sources"])
        s["priority"] = rng.choice([0, 50, 90, 100, 110, 255])
        return f"priority of {s['address']} on VRID {a['vrid']}"
    if kind == 2:
        others = [s["address"] for s in a["sources"]] + [None]
        a["master"] = rng.choice(others)
        return f"master of VRID {a['vrid']}"
    if kind == 3:
        # the node gains or loses a source's address; the source's dict stays the same
        addrs = snap["node"]["interfaces"][0]["addresses"]
        addr = rng.choice(a["sources"])["address"] + "/24"
        if addr in addrs and len(addrs) > 1:
            addrs.remove(addr)
        else:
            addrs.append(addr)
        return f"our addresses: {addr}"
    if kind == 4:
        adverts.remove(a)           # a lone master of ours now shows as a source built from the instance
        return f"VRID {a['vrid']} unheard"
    if kind == 5:
        a["flags"] = [] if a["flags"] else [{"kind": rng.choice(["split_brain", "ttl", "vip_mismatch"]),
                                             "detail": "x"}]
        return f"flags of VRID {a['vrid']}"
    if kind == 6:
        a["rejected_sources"] = [] if a["rejected_sources"] else [
            {"address": "198.18.0.77", "mac": "02:00:c6:12:00:4d", "priority": 200, "reason": "ttl",
             "count": step, "last_seen_age": 1.0}]
        return f"rejected source on VRID {a['vrid']}"
    if kind == 7:
        if step % 20 == 7:
            # a new view, listed last though its VRID sorts first: the order must be redone
            adverts.append({**copy.deepcopy(a), "vrid": 0, "interface": f"eth{step}", "ours": False,
                            "instance": None})
            return "a foreign view appended"
        # as many views as before, one of them another: it moves to the end
        snap["instances"] = [i for i in snap["instances"] if i["vrid"] != a["vrid"]]
        a.update(vrid=1000 + step, ours=False, instance=None)
        return f"VRID {a['vrid']} foreign now"
    if kind == 8:
        rng.shuffle(adverts)        # the same views in another order: the screen's order stays by VRID
        return "adverts reordered"
    inst = next((i for i in snap["instances"] if i["vrid"] == a["vrid"]), None) or rng.choice(snap["instances"])
    inst["state"] = "BACKUP" if inst["state"] == "MASTER" else "MASTER"
    return f"{inst['name']} is {inst['state']}"


@contextlib.asynccontextmanager
async def adverts_screen(snap: dict):
    """The console on ``snap``, its adverts screen shown: (app, view, table)."""
    c = ScriptedClient(copy.deepcopy(snap))
    app = ConsoleApp(c, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, c)
        await pilot.press("2")
        view = app.view("adverts")
        yield app, view, view.query_one("#adverts-table", KeyedTable)


async def test_incremental_adverts_rows_match_a_fresh_render_through_a_sequence_of_changes():
    """Rows, their order and every cell equal the fresh render's after each change."""
    snap = synthetic_snapshot(VRIDS, 2, tick=1)
    async with adverts_screen(snap) as (app, view, t):
        assert t.row_count > EAGER_ROWS       # the lazy path: rows made when asked for
        rng = random.Random(11)
        for step in range(60):
            what = mutate(snap, rng, step)
            sv = SnapView(copy.deepcopy(snap))      # a snapshot arrives decoded afresh
            view.show(sv, app.version)
            want = reference_rows(sv)
            assert t.keys == [k for k, _ in want], f"step {step} ({what}): row order"
            for key, cells in want:
                assert plain(t.row_cells(key)) == plain(cells), f"step {step} ({what}): row {key}"


async def test_a_source_becoming_ours_shows_here_though_its_advert_did_not_change():
    """The row signature holds whether a source is this node's, not the node's
    addresses: an address added on the node alone must still redraw the row."""
    snap = synthetic_snapshot(4, 2, tick=1)
    async with adverts_screen(snap) as (app, view, t):
        view.show(SnapView(copy.deepcopy(snap)), app.version)
        assert t.row_cells("eth0/4/2|198.18.0.2")[1].plain == "198.18.0.2"
        snap["node"]["interfaces"][0]["addresses"].append("198.18.0.2/24")
        view.show(SnapView(copy.deepcopy(snap)), app.version)
        assert t.row_cells("eth0/4/2|198.18.0.2")[1].plain == "198.18.0.2 (here)"


async def test_the_same_snapshot_again_remakes_no_row():
    """A snapshot equal to the last one shown changes no signature: no row is
    marked for making again (the work a refresh costs is the rows that changed)."""
    snap = synthetic_snapshot(VRIDS, 2, tick=1)
    async with adverts_screen(snap) as (app, view, t):
        view.show(SnapView(copy.deepcopy(snap)), app.version)
        updates, rebuilds = t.stats["updates"], t.stats["rebuilds"]
        view.show(SnapView(copy.deepcopy(snap)), app.version)
        assert (t.stats["updates"], t.stats["rebuilds"]) == (updates, rebuilds)
