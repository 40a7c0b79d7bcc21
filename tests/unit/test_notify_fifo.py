"""Notify FIFOs on real FIFOs: keepalived's lines in order, the FIFO made and
removed, a reader that is missing, slow or gone never blocks the daemon, the
FIFO's script started with the path and ended at exit."""

from __future__ import annotations

import os
import stat
import time

import pytest

from vipdeck.engine.config import loads
from vipdeck.engine.config.model import GlobalDefs, Notify, NotifyFifo
from vipdeck.engine.lab.wait import async_wait_until
from vipdeck.engine.notify import fifo as nf
from vipdeck.engine.notify.fifo import NotifyFifos, plan
from tests.unit.test_notify_checkers import FifoReader

pytestmark = pytest.mark.timeout(30)


def gd(**fifos) -> GlobalDefs:
    return GlobalDefs(**{k: NotifyFifo(path=str(v)) if not isinstance(v, NotifyFifo) else v
                         for k, v in fifos.items()})


def test_keepalived_s_line_format():
    assert nf.instance_line("VI_1", "MASTER", 100) == 'INSTANCE "VI_1" MASTER 100\n'
    assert nf.instance_line("VI_1", "MASTER_RX_LOWER_PRI", 100) == 'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100\n'
    assert nf.group_line("G1", "BACKUP") == 'GROUP "G1" BACKUP 0\n'
    assert nf.vs_line("[198.18.0.100]:tcp:80", False) == "VS [198.18.0.100]:tcp:80 DOWN\n"
    assert nf.rs_line("[198.18.0.2]:tcp:8080", "FWM 5", True) == "RS [198.18.0.2]:tcp:8080 FWM 5 UP\n"


def test_which_fifo_gets_which_lines(tmp_path):
    g = gd(notify_fifo=tmp_path / "all", vrrp_notify_fifo=tmp_path / "v", lvs_notify_fifo=tmp_path / "v")
    assert [(p.path.rsplit("/", 1)[1], sorted(p.kinds)) for p in plan(g)] == [("all", ["lvs", "vrrp"]),
                                                                               ("v", ["lvs", "vrrp"])]
    # -P (VRRP only) / -C (checkers only): the other half's FIFO is not opened at all
    assert [(p.path.rsplit("/", 1)[1], sorted(p.kinds)) for p in plan(g, lvs=False)] == [("all", ["vrrp"]),
                                                                                        ("v", ["vrrp"])]
    assert [sorted(p.kinds) for p in plan(gd(vrrp_notify_fifo=tmp_path / "v"), vrrp=False)] == []


def test_the_parser_follows_keepalived_for_fifos_named_twice():
    r = loads('global_defs {\n notify_fifo /run/a\n vrrp_notify_fifo /run/a\n lvs_notify_fifo /run/b\n'
              ' vrrp_notify_fifo_script "/bin/v"\n lvs_notify_fifo_script /bin/l\n notify_fifo_script "/bin/g x" ka\n'
              ' lvs_notify_fifo /run/c\n}\n', path="f.conf")
    g = r.config.global_defs
    assert g.notify_fifo == NotifyFifo(path="/run/a", script=Notify(command="/bin/g x", user="ka"))
    assert g.vrrp_notify_fifo is None                        # the global one gets its lines already
    assert g.lvs_notify_fifo.path == "/run/b" and g.lvs_notify_fifo.script.command == "/bin/l"
    assert [(d.line, d.message.split(":")[0]) for d in r.diagnostics if d.severity == "warning"] == [
        (3, "vrrp_notify_fifo /run/a is also the notify_fifo, which gets every line"),
        (8, "'lvs_notify_fifo' is given again (first at f.conf")]
    r = loads('global_defs {\n vrrp_notify_fifo_script /bin/v\n}\n', path="f.conf")
    (d,) = r.diagnostics
    assert d.line == 2 and "without 'vrrp_notify_fifo'" in d.message


async def test_lines_arrive_in_order_through_a_fifo_it_made_and_removes(tmp_path):
    path = tmp_path / "ka.fifo"
    fifos = NotifyFifos(gd(notify_fifo=path, lvs_notify_fifo=tmp_path / "lvs.fifo"))
    fifos.open()
    st = os.lstat(path)
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    everything, lvs = FifoReader(path), FifoReader(tmp_path / "lvs.fifo")
    fifos.instance("VI_1", "BACKUP", 100)
    fifos.group("G1", "BACKUP")
    fifos.real_server("[198.18.0.2]:tcp:8080", "[198.18.0.100]:tcp:80", False)
    fifos.virtual_server("[198.18.0.100]:tcp:80", False)
    fifos.instance("VI_1", "MASTER", 100)
    assert everything.lines() == ['INSTANCE "VI_1" BACKUP 100', 'GROUP "G1" BACKUP 0',
                                  "RS [198.18.0.2]:tcp:8080 [198.18.0.100]:tcp:80 DOWN",
                                  "VS [198.18.0.100]:tcp:80 DOWN", 'INSTANCE "VI_1" MASTER 100']
    assert lvs.lines() == ["RS [198.18.0.2]:tcp:8080 [198.18.0.100]:tcp:80 DOWN", "VS [198.18.0.100]:tcp:80 DOWN"]
    await fifos.close()
    assert not path.exists() and not (tmp_path / "lvs.fifo").exists()
    everything.close()
    lvs.close()


async def test_an_existing_fifo_is_used_and_kept_and_a_non_fifo_refused(tmp_path):
    path = tmp_path / "mine.fifo"
    os.mkfifo(path, 0o640)
    problems: list[tuple[str, str]] = []
    reg, link = tmp_path / "regular", tmp_path / "link.fifo"
    reg.write_text("")
    link.symlink_to(path)
    fifos = NotifyFifos(gd(notify_fifo=path, vrrp_notify_fifo=reg, lvs_notify_fifo=link),
                        on_problem=lambda t, s: problems.append((t, s)))
    fifos.open()
    assert [f.path for f in fifos.fifos] == [str(path)]
    assert problems == [(f"vrrp_notify_fifo {reg}: exists and is not a FIFO; not written to", "error"),
                        (f"lvs_notify_fifo {link}: exists and is a symbolic link; not written to", "error")]
    reader = FifoReader(path)
    fifos.instance("VI_1", "FAULT", 90)
    assert reader.lines() == ['INSTANCE "VI_1" FAULT 90']
    await fifos.close()
    assert stat.S_ISFIFO(os.lstat(path).st_mode) and stat.S_IMODE(os.lstat(path).st_mode) == 0o640
    assert reg.read_text() == ""
    reader.close()


async def test_no_reader_never_blocks_and_lines_wait_in_order_for_the_next_one(tmp_path):
    """Nobody reads: the pipe fills, then the backlog, then lines are dropped and
    counted; every write returns at once.  A reader then gets the oldest lines
    first, the backlog follows in order, and the drop is reported once."""
    path = tmp_path / "slow.fifo"
    problems: list[tuple[str, str]] = []
    fifos = NotifyFifos(gd(notify_fifo=path), on_problem=lambda t, s: problems.append((t, s)))
    fifos.open()
    (f,) = fifos.fifos
    n = 20000                                    # ~30 bytes each: far more than pipe + backlog
    for i in range(n):                           # a write that waited for a reader would hang here
        fifos.instance(f"VI_{i}", "MASTER", 100)
    assert f.written == n and 0 < f.dropped < n
    assert problems == [(f"notify_fifo {path}: nobody is reading and the pipe is full: dropping lines until a "
                         "reader catches up", "warning")]
    reader = FifoReader(path)
    got: list[str] = []

    def drained() -> bool:
        got[:] = reader.lines()
        return not f._backlog and len(got) == n - f.dropped

    await async_wait_until(drained, 10, what="the pipe and the backlog to drain")
    assert got == [f'INSTANCE "VI_{i}" MASTER 100' for i in range(n - f.dropped)]
    assert problems[-1] == (f"notify_fifo {path}: the reader caught up; {f.dropped} line(s) were dropped meanwhile",
                            "info")
    fifos.instance("VI_after", "BACKUP", 100)    # and on it goes
    assert reader.lines()[-1] == 'INSTANCE "VI_after" BACKUP 100'
    await fifos.close()
    reader.close()


async def test_a_reader_that_goes_away_costs_nothing(tmp_path):
    """No SIGPIPE, no EPIPE: the daemon holds the FIFO open itself; lines
    written while no one reads are there for the next reader."""
    path = tmp_path / "gone.fifo"
    problems: list = []
    fifos = NotifyFifos(gd(notify_fifo=path), on_problem=lambda *a: problems.append(a))
    fifos.open()
    first = FifoReader(path)
    fifos.instance("VI_1", "BACKUP", 100)
    assert first.lines() == ['INSTANCE "VI_1" BACKUP 100']
    first.close()
    fifos.instance("VI_1", "MASTER", 100)        # nobody there
    fifos.group("G1", "MASTER")
    second = FifoReader(path)
    assert second.lines() == ['INSTANCE "VI_1" MASTER 100', 'GROUP "G1" MASTER 0']
    assert problems == [] and fifos.fifos[0].dropped == 0
    await fifos.close()
    second.close()


async def test_the_fifo_script_gets_the_path_and_ends_with_the_daemon(tmp_path):
    out = tmp_path / "seen.log"
    script = tmp_path / "reader.sh"
    # keepalived passes the FIFO as the last argument
    script.write_text(f'#!/bin/sh\necho "args: $*" > {out}\nfor fifo; do :; done\n'
                      f'while read line; do echo "$line" >> {out}; done < "$fifo"\necho EOF >> {out}\n')
    script.chmod(0o755)
    path = tmp_path / "scripted.fifo"
    fifos = NotifyFifos(gd(notify_fifo=NotifyFifo(path=str(path), script=Notify(command=f"{script} --from ka"))))
    fifos.open()
    fifos.instance("VI_1", "MASTER", 100)
    fifos.instance("VI_1", "STOP", 100)
    await async_wait_until(lambda: out.exists() and "STOP" in out.read_text(), 5, what="the script to read")
    (f,) = fifos.fifos
    await fifos.close()
    assert out.read_text().splitlines() == [f"args: --from ka {path}", 'INSTANCE "VI_1" MASTER 100',
                                            'INSTANCE "VI_1" STOP 100', "EOF"]
    # it saw end of file and left by itself (no SIGTERM: that would have been signal 15)
    assert (f.script_result.exit_status, f.script_result.signal) == (0, None)


async def test_a_fifo_script_that_will_not_leave_is_terminated_then_killed(tmp_path):
    pidfile = tmp_path / "pid"
    script = tmp_path / "stubborn.sh"
    script.write_text(f"#!/bin/sh\ntrap '' TERM\necho $$ > {pidfile}\nwhile :; do sleep 0.05; done\n")
    script.chmod(0o755)
    problems: list = []
    fifos = NotifyFifos(gd(notify_fifo=NotifyFifo(path=str(tmp_path / "x.fifo"), script=Notify(command=str(script)))),
                        on_problem=lambda *a: problems.append(a))
    fifos.open()
    await async_wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 5, what="the script")
    pid = int(pidfile.read_text())
    t0 = time.monotonic()
    await fifos.close()
    took = time.monotonic() - t0
    assert nf.SCRIPT_GRACE <= took < 10, took     # the grace, SIGTERM ignored, SIGKILL 2 s later
    # killed: gone, or a zombie until its parent's child watcher reaps it
    await async_wait_until(lambda: not _running(pid), 5, what="the stubborn script killed")
    assert problems == []                        # ending it at exit is no problem to report


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):   # gone between the open and the read
        return False


async def test_a_fifo_script_that_dies_is_reported_and_lines_go_on(tmp_path):
    problems: list = []
    path = tmp_path / "d.fifo"
    fifos = NotifyFifos(gd(notify_fifo=NotifyFifo(path=str(path), script=Notify(command="/bin/sh -c 'exit 3'"))),
                        on_problem=lambda t, s: problems.append(t))
    fifos.open()
    await async_wait_until(lambda: problems, 5, what="the script's end reported")
    assert problems == [f"notify_fifo {path}: notify_fifo_script /bin/sh -c 'exit 3' ended: exit 3 in "
                        + problems[0].split(" in ", 1)[1]]
    reader = FifoReader(path)
    fifos.instance("VI_1", "BACKUP", 100)
    assert reader.lines() == ['INSTANCE "VI_1" BACKUP 100']
    await fifos.close()
    reader.close()


async def test_a_reload_keeps_an_unchanged_fifo_open_and_replaces_a_changed_one(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    fifos = NotifyFifos(gd(notify_fifo=a, vrrp_notify_fifo=b))
    fifos.open()
    keep = fifos.fifos[0]
    ra = FifoReader(a)
    await fifos.reload(gd(notify_fifo=a, vrrp_notify_fifo=c))
    assert fifos.fifos[0] is keep and not b.exists() and stat.S_ISFIFO(os.lstat(c).st_mode)
    fifos.instance("VI_1", "MASTER", 100)
    rc = FifoReader(c)
    assert ra.lines() == ['INSTANCE "VI_1" MASTER 100'] and rc.lines() == ['INSTANCE "VI_1" MASTER 100']
    await fifos.close()
    ra.close()
    rc.close()


async def test_an_unwritable_place_is_reported_not_raised(tmp_path):
    problems: list = []
    fifos = NotifyFifos(gd(notify_fifo=tmp_path / "no" / "such" / "dir" / "f"),
                        on_problem=lambda t, s: problems.append((t, s)))
    fifos.open()
    assert fifos.fifos == []
    ((text, severity),) = problems
    assert severity == "error" and text.endswith("cannot be created: No such file or directory")
    fifos.instance("VI_1", "MASTER", 100)        # nothing to write to: nothing happens
    await fifos.close()


async def test_the_dispatcher_writes_transitions_to_the_fifo_as_they_happen(tmp_path):
    from vipdeck.engine.config.model import Config, SyncGroup, VrrpInstance
    from vipdeck.engine.notify.scripts import NotifyDispatcher

    path = tmp_path / "d.fifo"
    inst = VrrpInstance(name="VI_1", interface="eth0", vrid=51)
    grp = SyncGroup(name="G1", group=("VI_1",))
    for on_reload in (False, True):
        g = GlobalDefs(notify_fifo=NotifyFifo(path=str(path)), fifo_write_vrrp_states_on_reload=on_reload)
        fifos = NotifyFifos(g)
        fifos.open()
        reader = FifoReader(path)
        d = NotifyDispatcher(Config(global_defs=g, vrrp_instances=(inst,), sync_groups=(grp,)), fifo=fifos)
        d.instance_transition(inst, "BACKUP", 100)
        d.group_transition(grp, "BACKUP")
        d.master_rx_lower_pri(inst, 90, own_priority=100)     # the line carries our own priority
        d.state_after_reload("INSTANCE", "VI_1", "MASTER", 100)
        d.state_after_reload("GROUP", "G1", "MASTER")
        d.instance_transition(inst, "STOP", 100)
        reloaded = ['INSTANCE "VI_1" MASTER 100', 'GROUP "G1" MASTER 0'] if on_reload else []
        assert reader.lines() == ['INSTANCE "VI_1" BACKUP 100', 'GROUP "G1" BACKUP 0',
                                  'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100', *reloaded, 'INSTANCE "VI_1" STOP 100']
        await d.close()
        await fifos.close()
        reader.close()
