"""notify_* and generic notify scripts: arguments, order, events, failures."""

from __future__ import annotations

import time
from pathlib import Path

from vipdeck.engine.config.model import Config, GlobalDefs, Notify, SyncGroup, VrrpInstance
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.notify.scripts import NotifyDispatcher, NotifyEvent, plan, run_notify


def recorder(tmp_path: Path, delay_for: str = "") -> tuple[Path, Path]:
    """A script appending its arguments as one line; sleeps when $1 == delay_for."""
    log = tmp_path / "calls"
    sh = tmp_path / "notify.sh"
    sh.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = "{delay_for}" ] && sleep 0.3\n'
        f'echo "$*" >> {log}\n')
    sh.chmod(0o755)
    return sh, log


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def instance(sh: Path, **kw) -> VrrpInstance:
    return VrrpInstance(
        name="VI_1", interface="eth0", vrid=51, priority=100,
        notify_master=Notify(command=f"{sh} master"), notify_backup=Notify(command=f"{sh} backup"),
        notify_fault=Notify(command=f"{sh} fault 'two words'"), notify_stop=Notify(command=f"{sh} stop"),
        notify=Notify(command=f"{sh} generic"), **kw)


def test_plan_follows_keepalived():
    inst = instance(Path("/x/n.sh"))
    jobs = plan(inst, "MASTER", 103)
    assert [(j.keyword, j.extra) for j in jobs] == [
        ("notify_master", ()), ("notify", ("INSTANCE", "VI_1", "MASTER", "103"))]
    grp = SyncGroup(name="G1", group=("VI_1",), notify=Notify(command="/x/g.sh"))
    assert [(j.keyword, j.extra) for j in plan(grp, "fault")] == [("notify", ("GROUP", "G1", "FAULT", "0"))]
    assert plan(VrrpInstance(name="I", interface="e", vrid=1), "MASTER", 1) == []


async def test_transitions_run_in_order_with_keepalived_arguments(tmp_path: Path):
    sh, log = recorder(tmp_path, delay_for="master")
    inst = instance(sh)
    events: list[NotifyEvent] = []
    d = NotifyDispatcher(Config(vrrp_instances=(inst,)), events.append)
    t0 = time.monotonic()
    d.instance_transition(inst, "MASTER", 100)
    d.instance_transition("VI_1", "BACKUP", 97)
    d.instance_transition(inst, "FAULT", 97)
    d.instance_transition(inst, "STOP", 97)
    assert time.monotonic() - t0 < 0.05           # enqueuing never waits for a script
    assert await d.drain(timeout=10)
    assert lines(log) == [
        "master", "generic INSTANCE VI_1 MASTER 100",    # the slow master script still came first
        "backup", "generic INSTANCE VI_1 BACKUP 97",
        "fault two words", "generic INSTANCE VI_1 FAULT 97",
        "stop", "generic INSTANCE VI_1 STOP 97",
    ]
    assert [e.job.keyword for e in events] == ["notify_master", "notify"] * 1 + ["notify_backup", "notify",
                                                "notify_fault", "notify", "notify_stop", "notify"]
    e = events[1]
    assert e.ok and e.result.exit_status == 0 and e.result.duration > 0
    assert e.job.extra == ("INSTANCE", "VI_1", "MASTER", "100")
    fields = e.as_fields()
    assert fields["instance"] == "VI_1" and fields["args"] == ["INSTANCE", "VI_1", "MASTER", "100"]
    assert [ev.seq for ev in events] == sorted(ev.seq for ev in events)
    await d.close()


async def test_instances_do_not_wait_for_each_other(tmp_path: Path):
    sh, log = recorder(tmp_path, delay_for="slow")
    a = VrrpInstance(name="A", interface="eth0", vrid=1, notify_master=Notify(command=f"{sh} slow A"))
    b = VrrpInstance(name="B", interface="eth0", vrid=2, notify_master=Notify(command=f"{sh} fast B"))
    d = NotifyDispatcher(Config(vrrp_instances=(a, b)))
    d.instance_transition(a, "MASTER", 100)
    d.instance_transition(b, "MASTER", 100)
    assert await d.drain(timeout=10)
    assert lines(log) == ["fast B", "slow A"]      # separate queues
    await d.close()


async def test_sync_group_notifies(tmp_path: Path):
    sh, log = recorder(tmp_path)
    g = SyncGroup(name="G1", group=("VI_1",), notify_master=Notify(command=f"{sh} gmaster"),
                  notify=Notify(command=f"{sh} ggeneric"))
    d = NotifyDispatcher(Config(sync_groups=(g,)))
    d.group_transition("G1", "MASTER")
    d.group_transition(g, "BACKUP")
    assert await d.drain(timeout=10)
    assert lines(log) == ["gmaster", "ggeneric GROUP G1 MASTER 0", "ggeneric GROUP G1 BACKUP 0"]
    await d.close()


async def test_failures_become_events(tmp_path: Path):
    failing = tmp_path / "fail.sh"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    inst = VrrpInstance(name="VI_1", interface="eth0", vrid=1,
                        notify_master=Notify(command=str(tmp_path / "missing.sh")),
                        notify_backup=Notify(command=f"{failing} x"),
                        notify_fault=Notify(command="sleep 30"),
                        notify=Notify(command="/bin/true"))
    events: list[NotifyEvent] = []
    d = NotifyDispatcher(Config(vrrp_instances=(inst,)), events.append, timeout=0.2)
    for state in ("MASTER", "BACKUP", "FAULT"):
        d.instance_transition(inst, state, 100)
    await async_wait_until(lambda: len(events) == 6, timeout=10, what="six notify events")
    by_kw = {e.job.keyword: e for e in events}
    assert by_kw["notify_master"].result.error.startswith("not found")
    assert by_kw["notify_backup"].result.exit_status == 3 and not by_kw["notify_backup"].ok
    assert by_kw["notify_fault"].result.timed_out
    assert [e.ok for e in events if e.job.keyword == "notify"] == [True, True, True]   # queue went on
    assert "timed out" in by_kw["notify_fault"].message()
    await d.close()


async def test_run_notify_with_script_user():
    import os

    from tests.support.paths import require
    require(os.geteuid() == 0, "switching user needs root")
    res = await run_notify(Notify(command="id -un"), (), GlobalDefs(script_user="nobody"))
    assert res.ok and res.stdout.strip() == "nobody", res
    res = await run_notify(Notify(command="id -un", user="root"), (), GlobalDefs(script_user="nobody"))
    assert res.ok and res.stdout.strip() == "root"
