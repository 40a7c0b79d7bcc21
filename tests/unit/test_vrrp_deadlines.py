"""engine.vrrp.deadlines: one loop timer for every instance's deadline.

On a stand-in loop that records what it is asked to arm, so the count of
loop timers per wake-up is seen directly (a real loop hides it in its heap).
"""

from __future__ import annotations

import pytest

from vipdeck.engine.vrrp.deadlines import GRID_MIN, Deadlines


class Handle:
    def __init__(self, loop: "Loop", when: float, fn):
        self.loop, self.when, self.fn, self.cancelled = loop, when, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    """The part of an event loop Deadlines uses (its own time: no timerfd wake-ups)."""

    def __init__(self):
        self.now = 0.0
        self.armed: list[Handle] = []
        self.soon: list[Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn) -> Handle:
        h = Handle(self, when, fn)
        self.armed.append(h)
        return h

    def call_soon(self, fn, *args) -> Handle:
        h = Handle(self, None, lambda: fn(*args))
        self.soon.append(h)
        return h

    def run_soon(self) -> None:
        """Run what call_soon queued before now (asyncio's ready queue, once)."""
        ready, self.soon = self.soon, []
        for h in ready:
            if not h.cancelled:
                h.fn()

    def call_exception_handler(self, context) -> None:
        raise AssertionError(context)

    def fire(self) -> None:
        """Run the live handle that is due first, at its time."""
        h = min((h for h in self.armed if not h.cancelled), key=lambda h: h.when)
        self.now = max(self.now, h.when)
        h.cancelled = True
        h.fn()


def test_a_wake_up_whose_callbacks_re_arm_arms_the_loop_once_for_the_earliest():
    """Masters re-arm their next advert from inside the run: the loop gets one new
    timer per wake-up (the earliest deadline left), not one per callback or one
    that the end of the run cancels again."""
    loop = Loop()
    d = Deadlines(loop)
    ran = []

    def master(k: int):
        def fn():
            ran.append((loop.now, k))
            d.call_at(loop.now + 0.1 + (5 - k) / 1000, fn)     # the next advert: the last armed is first
        return fn

    for k in range(5):
        d.call_at(1.0, master(k))
    assert len(loop.armed) == 1                          # armed once, for 1.0
    loop.fire()
    assert ran == [(1.0, k) for k in range(5)]           # in the order armed
    assert len(loop.armed) == 2 and not any(h.cancelled for h in loop.armed[1:])
    assert loop.armed[1].when == 1.101                   # the earliest of the re-armed
    loop.fire()
    assert ran[5:] == [(1.101, 4)] and len(loop.armed) == 3 and loop.armed[2].when == 1.102


def test_cancelled_tickets_never_run_and_an_earlier_deadline_re_arms_the_loop():
    loop = Loop()
    d = Deadlines(loop)
    ran = []
    late = d.call_at(2.0, lambda: ran.append("late"))
    gone = d.call_at(1.5, lambda: ran.append("gone"))
    d.call_at(1.0, lambda: ran.append("early"))          # earlier: the loop timer moves
    assert [h.when for h in loop.armed] == [2.0, 1.5, 1.0] and loop.armed[0].cancelled
    gone.cancel()
    loop.fire()
    assert ran == ["early"] and loop.armed[-1].when == 2.0       # the cancelled one is skipped
    loop.fire()
    assert ran == ["early", "late"] and late.cancelled() is False


def test_a_wake_up_takes_the_masters_adverts_due_within_early_and_never_runs_one_late():
    """Batching (Deadlines.early): the precise deadlines (masters' adverts) within
    ``early`` after the wake-up run in it, up to that much before their time; a
    deadline past that, or one that is not precise (a backup's), waits for its own
    wake-up; a backup's deadline that waits does not hold back a master's advert
    after it."""
    loop = Loop()
    d = Deadlines(loop)
    d.early = 0.001
    ran = []
    for when, precise, name in [(1.0, True, "a"), (1.0004, True, "b"), (1.0009, True, "c"),
                                (1.0011, True, "d"), (2.0, True, "e"), (2.0005, False, "f"),
                                (2.0008, True, "g")]:
        d.call_at(when, lambda name=name: ran.append((loop.now, name)), precise=precise)
    loop.fire()
    assert ran == [(1.0, "a"), (1.0, "b"), (1.0, "c")]       # d: 1.1 ms after, its own wake-up
    assert [h.when for h in loop.armed if not h.cancelled] == [1.0011]
    loop.fire()
    assert ran[3:] == [(1.0011, "d")]
    loop.fire()
    assert ran[4:] == [(2.0, "e"), (2.0, "g")]                 # f is not precise: it waits, g does not
    loop.fire()
    assert ran[6:] == [(2.0005, "f")]
    assert not any(h.cancelled is False for h in loop.armed)   # nothing left armed


def test_a_late_wake_up_runs_what_is_due_and_early_only_within_early_of_the_deadline_it_woke_for():
    loop = Loop()
    d = Deadlines(loop)
    d.early = 0.001
    ran = []
    for when in (1.0, 1.0006, 1.003, 1.0055):
        d.call_at(when, lambda when=when: ran.append((loop.now, when)), precise=True)
    loop.now = 1.005                                          # the loop woke 5 ms late
    loop.fire()
    # what is due, late as it is; nothing early: the window is the deadline woken for's
    assert ran == [(1.005, 1.0), (1.005, 1.0006), (1.005, 1.003)]
    loop.fire()
    assert ran[3:] == [(1.0055, 1.0055)]


def test_a_deadline_armed_in_the_run_is_not_taken_early_by_it():
    """A callback taken early that re-arms for its very deadline (the driver does, for
    anything but a steady master's advert) runs at that deadline, not again at once."""
    loop = Loop()
    d = Deadlines(loop)
    d.early = 0.001
    ran = []

    def first():
        ran.append((loop.now, "first"))

    def waits():
        ran.append((loop.now, "waits"))
        if loop.now < 1.0005:
            d.call_at(1.0005, waits, precise=True)

    d.call_at(1.0, first, precise=True)
    d.call_at(1.0005, waits, precise=True)
    loop.fire()
    assert ran == [(1.0, "first"), (1.0, "waits")]
    assert [h.when for h in loop.armed if not h.cancelled] == [1.0005]
    loop.fire()
    assert ran[2:] == [(1.0005, "waits")]


def test_again_re_arms_the_same_ticket():
    loop = Loop()
    d = Deadlines(loop)
    ran = []

    def fn():
        ran.append(loop.now)
        if len(ran) < 3:
            assert d.again(t, loop.now + 0.1) is t
    t = d.call_at(1.0, fn, precise=True)
    for _ in range(3):
        loop.fire()
    assert ran == [1.0, 1.1, 1.2000000000000002] and len(loop.armed) == 3


def test_many_backup_deadlines_wake_the_loop_on_the_grid_and_share_wake_ups():
    """Deadlines.grid (a real loop's default): with GRID_MIN or more deadlines that
    are not precise pending (a busy backup's master-down timers), the loop wakes for
    them only at points of the grid, so those within one step share a wake-up; none
    runs before its time; a precise one (a master's advert) still wakes the loop on
    the dot, and a few pending keep their exact times."""
    loop = Loop()
    d = Deadlines(loop)
    d.grid = 0.004
    ran = []

    def note(when):
        return lambda: ran.append((loop.now, when))

    d.call_at(1.0013, note(1.0013))                            # alone: on the dot
    assert loop.armed[-1].when == 1.0013
    loop.fire()
    assert ran == [(1.0013, 1.0013)]
    for _ in range(GRID_MIN):
        d.call_at(10.0, note(10.0))                            # the other instances' deadlines
    for when in (2.0001, 2.0013, 2.0039, 2.0041):
        d.call_at(when, note(when))
    live = [h for h in loop.armed if not h.cancelled]
    assert [h.when for h in live] == [pytest.approx(2.004)]    # one wake-up for the first three
    loop.fire()
    assert [w for _, w in ran[1:]] == [2.0001, 2.0013, 2.0039]
    assert all(now >= when for now, when in ran)               # none before its time
    live = [h for h in loop.armed if not h.cancelled]
    assert [h.when for h in live] == [pytest.approx(2.008)]    # 2.0041: the next point
    d.call_at(2.005, note("advert"), precise=True)
    live = [h for h in loop.armed if not h.cancelled]
    assert [h.when for h in live] == [2.005]                   # a master's advert: on the dot
    loop.fire()
    assert ran[-2:] == [(2.005, 2.0041), (2.005, "advert")]    # due by then: the same wake-up
    loop.fire()
    assert ran[-1] == (pytest.approx(10.0), 10.0) and len(ran) == 7 + GRID_MIN - 1


def test_follow_up_work_waits_for_a_due_deadline_queued_after_it():
    """deadlines.after_due: a takeover's follow-up (its VIPs, its gratuitous ARPs:
    tasks) lets a deadline that fell due meanwhile (the next VRID's master-down,
    whose advert is due) run first.  asyncio runs the tasks already queued before
    the timers that fell due while the earlier work ran, so without it each later
    advert of 255 VRIDs taking over at once waited behind the earlier ones' work."""
    import asyncio
    import time

    from vipdeck.engine.vrrp import deadlines

    order = []

    async def follow_up():
        await deadlines.after_due()
        order.append("follow-up")

    async def main():
        loop = asyncio.get_running_loop()
        d = deadlines.for_loop(loop)
        done = loop.create_future()

        def takeover():
            loop.create_task(follow_up())
            end = time.perf_counter() + 0.01      # the takeover's own work, past the next deadline
            while time.perf_counter() < end:
                pass

        now = loop.time()
        d.call_at(now + 0.001, takeover)
        d.call_at(now + 0.005, lambda: (order.append("advert"), done.set_result(None)))
        await asyncio.wait_for(done, 5)
        while len(order) < 2:
            await asyncio.sleep(0)

    asyncio.run(main())
    assert order == ["advert", "follow-up"]


def test_follow_ups_give_way_to_a_deadline_that_falls_due_while_they_run():
    """after_run: the follow-ups wait for every due deadline, run in slices of
    FOLLOW_UP_SLICE, and stop for a deadline that falls due while they run (255
    takeovers' follow-ups take tens of ms): the loop's next turns take that
    deadline and the rest of the follow-ups, in their order."""
    loop = Loop()
    d = Deadlines(loop)
    ran = []

    def takeover(name):
        def follow_up():
            ran.append(f"{name} follow-up")
            loop.now += 0.0003                      # its work takes 0.3 ms

        def fn():
            ran.append(name)
            assert d.after_run(follow_up)
        return fn

    d.call_at(1.0, takeover("a"))
    d.call_at(1.0, takeover("b"))
    d.call_at(1.0, takeover("c"))
    d.call_at(1.0005, takeover("d"))                 # due during the follow-ups
    loop.fire()
    # a's and b's follow-ups fill the slice (0.6 ms); d fell due during b's
    assert ran == ["a", "b", "c", "a follow-up", "b follow-up"]
    loop.run_soon()                                  # the loop's next turn: d's wake-up has come
    assert ran[5:] == []
    loop.fire()
    assert ran[5:] == ["d", "c follow-up", "d follow-up"]
    loop.run_soon()                                  # the turn queued while d waited: nothing left
    assert len(ran) == 8 and not loop.soon
    assert not d.after_run(lambda: None)             # no run under way: the caller does it now
