"""engine.signals: every signal has a decided meaning (the lab test sends them)."""

from __future__ import annotations

import signal as S

from vipdeck.engine import signals as sigtable


def test_the_signal_table_leaves_no_terminating_signal_to_its_default():
    """Python's default for these is to die; each must be decided (exceptions: faults, KILL, STOP)."""
    table = sigtable.table()
    assert set(table) == {int(s) for s in S.valid_signals()}
    faults = {S.SIGSEGV, S.SIGBUS, S.SIGILL, S.SIGFPE, S.SIGKILL, S.SIGSTOP}
    harmless = {S.SIGCHLD, S.SIGCONT, S.SIGURG, S.SIGWINCH}   # the kernel's default is to ignore them
    for sig, m in table.items():
        if m.action is sigtable.Action.DEFAULT:
            assert sig in faults | harmless, sigtable.name(sig)
    assert sigtable.name(S.SIGRTMIN + 2) == "SIGRTMIN+2" and sigtable.name(S.SIGRTMAX - 1) == "SIGRTMAX-1"
    assert table[S.SIGRTMIN + 2].keepalived == "JSON"
