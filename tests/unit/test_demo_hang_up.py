"""`vipdeck demo`'s guard for a console that does not close after a hang-up.

The whole path (tmux killed, the lab gone) is tests/lab/test_demo.py; this is
the guard for the case it once caught, a console still running 60 s after its
terminal went: the lab is removed from the guard's thread and the process
ends, unless the console's own clean-up has begun.
"""

from __future__ import annotations

from vipdeck.cli.demo import _hang_up_watchdog


def test_a_console_that_never_closes_has_its_lab_removed_and_the_process_ended():
    done, waited = [], []
    assert _hang_up_watchdog(15.0, [], lambda: done.append("removed"), 129,
                             wait=waited.append, exit=lambda code: done.append(code))
    assert waited == [15.0] and done == ["removed", 129]


def test_a_console_that_closed_is_left_to_its_own_clean_up():
    done = []
    assert not _hang_up_watchdog(15.0, [True], lambda: done.append("removed"), 129,
                                 wait=lambda s: None, exit=lambda code: done.append(code))
    assert done == []


def test_a_removal_that_fails_still_ends_the_process():
    done = []

    def remove():
        raise OSError("ip netns del: busy")

    try:
        _hang_up_watchdog(0.0, [], remove, 143, wait=lambda s: None, exit=lambda code: done.append(code))
    except OSError:
        pass
    assert done == [143]
