"""Every signal against a real daemon: it either goes on (still MASTER) or
shuts down cleanly (priority-0 advert, VIP gone, pid file gone, the peer took
over, exit status 0 or 128+N) — never killed by a default action.

One keepalived (priority 50) backs up one VRID per vipdeck daemon (priority
100, each in its own node), so the daemons that are told to stop all start
and are signalled at once; one more daemon receives, one after another, the
signals that must not stop it.  The table being tested is engine.signals's.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from vipdeck.engine import signals as sigtable
from vipdeck.engine.lab import wait_until
from vipdeck.engine.lab.peers import instance, start_keepalived, start_vipdeck, vrrp_conf
from tests.support.vipdeck_cli import events

pytestmark = pytest.mark.lab

S = signal
STOPPING = [s for s, m in sorted(sigtable.table().items())
            if m.action in (sigtable.Action.STOP, sigtable.Action.STOP_UNEXPECTED)]
SURVIVED = [S.SIGHUP, S.SIGUSR1, S.SIGUSR2, S.SIGRTMIN + 2, S.SIGRTMAX - 1, S.SIGRTMAX, S.SIGPIPE, S.SIGXFSZ,
            S.SIGTSTP, S.SIGTTIN, S.SIGTTOU, S.SIGCHLD, S.SIGCONT, S.SIGURG, S.SIGWINCH]
LOGGED = {S.SIGUSR1: "keepalived's DATA dump", S.SIGUSR2: "keepalived's STATS dump",
          S.SIGRTMIN + 2: "keepalived's JSON dump", S.SIGRTMAX - 1: "keepalived's STATS_CLEAR dump",
          S.SIGRTMAX: "keepalived's TDUMP dump", S.SIGTSTP: "SIGTSTP received: ignored"}


def _vip(i: int) -> str:
    return f"198.18.0.{100 + i}"


def _one(name: str, vrid: int, prio: int, vip: str, state: str) -> dict:
    return dict(name=name, vrid=vrid, priority=prio, state=state, advert_int=1, vips=[vip])


def test_each_signal_is_survived_or_ends_in_a_clean_shutdown(lab, keepalived_bin):
    n = len(STOPPING) + 1
    ka_node = lab.add_node("ka", "198.18.0.2/24")
    sn = lab.sniffer()
    start_keepalived(ka_node, vrrp_conf(router_id="ka", version=3, instances=[
        _one(f"VI_{i}", 60 + i, 50, _vip(i), "BACKUP") for i in range(n)]), binary=keepalived_bin)
    nodes = [lab.add_node(f"v{i}", f"198.18.0.{10 + i}/24") for i in range(n)]

    def start(i: int):
        conf = vrrp_conf(router_id=f"v{i}", version=3, instances=[_one(f"VI_{i}", 60 + i, 100, _vip(i), "MASTER")])
        return start_vipdeck(nodes[i], conf, extra_args=())

    with ThreadPoolExecutor(8) as pool:
        routers = list(pool.map(start, range(n)))
    for i, r in enumerate(routers):
        wait_until(lambda i=i, r=r: nodes[i].has_address(_vip(i)) and not ka_node.has_address(_vip(i))
                   and instance(r, f"VI_{i}")["state"] == "MASTER", 15, what=f"v{i} master")
    survivor, stopping = routers[-1], routers[:-1]
    last = len(routers) - 1

    # -- the ones that must not stop it, one after another
    for sig in SURVIVED:
        name = sigtable.name(sig)
        seq = events(survivor)[-1]["seq"]
        log_len = len(survivor.log())
        survivor.signal(sig)
        if sig == S.SIGHUP:
            wait_until(lambda: any(e["kind"] == "config" and e.get("accepted") for e in events(survivor, seq)), 10,
                       what="reload accepted")
        elif sig in LOGGED:
            wait_until(lambda: LOGGED[sig] in survivor.log()[log_len:], 5, what=f"{name} logged")
        # a control round trip after the signal: a default action would have killed it first
        i = instance(survivor, f"VI_{last}")
        assert survivor.alive(), f"{name} killed the daemon: {survivor.proc.returncode}"
        assert i["state"] == "MASTER", name
        assert not [e for e in events(survivor, seq) if e["kind"] == "transition"], name
    assert nodes[last].has_address(_vip(last)) and not ka_node.has_address(_vip(last))
    dumps = [e for e in events(survivor) if e["kind"] == "daemon" and e.get("dump") and e.get("signal")]
    assert [e["signal"] for e in dumps] == ["SIGUSR1", "SIGUSR2", "SIGRTMIN+2", "SIGRTMAX-1", "SIGRTMAX"]

    # -- every other catchable terminating signal: a clean shutdown, each daemon its own signal
    for r, sig in zip(stopping, STOPPING):
        r.signal(sig)
    for i, (r, sig) in enumerate(zip(stopping, STOPPING)):
        name = sigtable.name(sig)
        wait_until(lambda r=r: not r.alive(), 15, what=f"daemon {i} to stop on {name}")
        expected = 0 if sig in (S.SIGTERM, S.SIGINT) else 128 + sig
        assert r.proc.returncode == expected, f"{name}: exit {r.proc.returncode}\n{r.log()[-2000:]}"
        assert not os.path.exists(os.path.join(r.workdir, "vipdeck.pid")), name
        assert not os.path.exists(r.socket_path), name
        assert not nodes[i].has_address(_vip(i)), name
        assert any(p.priority == 0 for p in sn.snapshot(vrid=60 + i, src=nodes[i].ip)), f"{name}: no priority 0"
        wait_until(lambda i=i: ka_node.has_address(_vip(i)), 5, what=f"keepalived took VI_{i} after {name}")
        if expected:
            assert f"{name} received (not a stop signal" in r.log(), name
