"""engine.vrrp.deadlines: one loop timer for every instance's deadline.

On a stand-in loop that records what it is asked to arm, so the count of
loop timers per wake-up is seen directly (a real loop hides it in its heap).
"""

from __future__ import annotations

from vipdeck.engine.vrrp.deadlines import Deadlines


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

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn) -> Handle:
        h = Handle(self, when, fn)
        self.armed.append(h)
        return h

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
