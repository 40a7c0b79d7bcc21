"""The console's data feed without a terminal: its decisions on plain numbers
(``FeedCore``), then its asyncio driver (``NodeFeed``) on a real loop over a
scripted engine, with the messages it posts collected in a list."""

from __future__ import annotations

import asyncio

from vipdeck.console.feed import Backoff, FeedCore, LinkState, NodeFeed
from vipdeck.console.testing import ScriptedClient, synthetic_snapshot, wait_for
from vipdeck.engine.control.schema import ControlError


def ev(seq: int, kind: str = "transition") -> dict:
    return {"seq": seq, "time": 0.0, "kind": kind, "severity": "info", "message": f"event {seq}"}


# -- FeedCore: decisions on plain numbers ---------------------------------------------------

def test_backoff_doubles_to_its_cap_and_a_failure_while_waiting_does_not_lengthen_it():
    b = Backoff(0.5, 5.0)
    waits = []
    now = 0.0
    for _ in range(7):
        b.failed(now)
        waits.append(b.wait(now))
        b.failed(now + 0.1)                   # the other channel fails too, meanwhile
        assert b.wait(now) == waits[-1]
        now = b.retry_at
    assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    b.ok()
    b.failed(now)
    assert b.wait(now) == 0.5


def test_events_mark_the_snapshot_dirty_and_one_fetch_serves_a_burst():
    core = FeedCore("n1", coalesce=0.25, refresh_interval=1.0)
    core.fetch_started(0.0)
    core.fetch_ok(0.1)
    core.shown(0.01)
    assert not core.fetch_due(0.3)              # nothing happened, the refresh interval has not passed
    for seq in range(1, 301):
        core.event(ev(seq), 0.3)
    assert core.fetch_due(0.3)
    core.fetch_started(0.3)
    assert not core.fetch_due(0.6)              # one in flight
    core.fetch_ok(0.35)
    assert not core.fetch_due(0.6)              # handed over, not shown yet
    core.shown(0.1)                             # a slow screen: 4 x 0.1 s between fetches
    core.event(ev(301), 0.6)
    assert not core.fetch_due(0.69) and core.fetch_due(0.71)
    assert len(core.take_events()) == 301 and core.take_events() == []


def test_quiet_kinds_duplicates_and_the_bound_on_kept_events():
    core = FeedCore("n1", max_events=10)
    core.dirty = False
    core.event(ev(1, "notify"), 0.0)
    core.event(ev(2, "smtp"), 0.0)
    assert not core.dirty                        # they change nothing a snapshot shows
    assert not core.event(ev(2), 0.0)           # a resumed stream repeats what we have
    for seq in range(3, 40):
        core.event(ev(seq), 0.0)
    batch = core.take_events()
    assert [e["seq"] for e in batch] == list(range(30, 40)) and core.last_seq == 39


def test_the_refresh_interval_fetches_without_events():
    core = FeedCore("n1", coalesce=0.25, refresh_interval=1.0)
    core.fetch_started(0.0)
    core.fetch_ok(0.0)
    core.shown(0.0)
    assert not core.fetch_due(0.99) and core.fetch_due(1.0)


def test_a_failed_snapshot_is_retried_after_the_backoff_and_the_link_says_so():
    core = FeedCore("n1", refresh_interval=30.0)
    core.fetch_started(0.0)
    core.fetch_failed(0.01, "daemon not listening on /run/vipdeck/control.sock")
    st = core.state(0.02)
    assert (st.connected, st.error, st.reconnecting, st.retry_at) == \
        (False, "daemon not listening on /run/vipdeck/control.sock", True, 0.51)
    assert not core.fetch_due(0.5) and core.fetch_due(0.51)     # dirty: no need to wait 30 s
    core.fetch_started(0.51)
    core.fetch_failed(0.52, "daemon not listening")
    assert core.state(0.6).retry_at == 1.52
    core.fetch_started(1.52)
    core.fetch_ok(1.53)
    st = core.state(1.6)
    assert (st.connected, st.error, st.reconnecting, st.retry_at) == (True, None, False, None)


def test_a_stream_that_ends_asks_for_a_snapshot_at_once_and_backs_off_itself():
    core = FeedCore("n1", refresh_interval=30.0)
    core.fetch_started(0.0)
    core.fetch_ok(0.0)
    core.shown(0.0)
    assert not core.fetch_due(1.0)
    core.stream_ended(1.0, "event stream closed")
    assert core.fetch_due(1.0)                  # is the engine gone, or only the stream?
    assert core.state(1.0).connected            # only the snapshot's answer decides
    assert core.stream.wait(1.0) == 0.5
    core.stream_ended(1.5, "event stream closed")
    assert core.stream.wait(1.5) == 1.0
    core.stream_lasted(10.0)                    # open for long: it was fine
    core.stream_ended(20.0, "event stream closed")
    assert core.stream.wait(20.0) == 0.5


def test_stale_means_nothing_heard_for_longer_than_stale_after():
    core = FeedCore("n1", refresh_interval=1.0)
    assert core.stale_after == 3.0
    assert not core.state(100.0).stale          # never heard: connecting, not stale
    core.fetch_started(0.0)
    core.fetch_ok(0.0)
    assert not core.state(3.0).stale and core.state(3.01).stale
    core.event(ev(1), 3.5)                      # an event is news from the node too
    st = core.state(4.0)
    assert not st.stale and st.heard_ago(4.0) == 0.5
    # what a state says, not when it was heard, decides whether it is news
    assert LinkState("n1", True, last_heard=1.0) == LinkState("n1", True, last_heard=2.0)


# -- NodeFeed: the driver on a real loop ------------------------------------------------------

class Sink(list):
    """Collects the feed's messages; acks snapshots like the app (or not)."""

    def __init__(self, ack: bool = True):
        super().__init__()
        self.ack = ack

    def __call__(self, message) -> None:
        self.append(message)
        if self.ack and isinstance(message, NodeFeed.Snapshot):
            message.feed.shown(0.0)

    def of(self, cls) -> list:
        return [m for m in self if isinstance(m, cls)]

    def events(self) -> list[dict]:
        return [e for m in self.of(NodeFeed.Events) for e in m.events]


def feed_for(client, sink, **kw) -> NodeFeed:
    kw.setdefault("coalesce", 0.01)
    kw.setdefault("refresh_interval", 30.0)
    kw.setdefault("backoff_base", 0.05)
    kw.setdefault("backoff_cap", 0.2)
    return NodeFeed(client, sink, node="node1", **kw)


async def test_snapshots_and_batched_events_arrive_as_messages():
    client = ScriptedClient(synthetic_snapshot(4, 2), [ev(1), ev(2)])
    sink = Sink()
    feed = feed_for(client, sink)
    feed.start()
    try:
        await wait_for(lambda: sink.of(NodeFeed.Snapshot) and len(sink.events()) == 2, 3, "the first messages")
        snap = sink.of(NodeFeed.Snapshot)[0]
        assert snap.node == "node1" and snap.raw["node"]["hostname"] == "bench"
        assert sink.of(NodeFeed.Status)[-1].state.connected
        calls = client.snapshot_calls
        for k in range(500):
            client.push_event("advert", f"anomaly {k}", "warning", vrid=1, flag="ttl")
        await wait_for(lambda: len(sink.events()) == 502, 3, "the burst")
        await wait_for(lambda: client.snapshot_calls > calls, 3, "a refresh after the burst")
        assert len(sink.of(NodeFeed.Events)) < 100          # batched per tick, not one message per event
        assert client.snapshot_calls - calls <= 5
        assert [e["seq"] for e in sink.events()] == list(range(1, 503))
    finally:
        await feed.stop()


async def test_no_second_snapshot_before_the_first_is_shown():
    client = ScriptedClient(synthetic_snapshot(4, 2))
    sink = Sink(ack=False)
    feed = feed_for(client, sink, refresh_interval=0.02)
    feed.start()
    try:
        await wait_for(lambda: sink.of(NodeFeed.Snapshot), 3, "the first snapshot")
        for k in range(20):
            client.push_event("transition", f"t{k}")
        await asyncio.sleep(0.3)               # 15 refresh intervals: the app is slow, the feed waits
        assert client.snapshot_calls == 1 and len(sink.of(NodeFeed.Snapshot)) == 1
        feed.shown(0.0)
        await wait_for(lambda: len(sink.of(NodeFeed.Snapshot)) == 2, 3, "the next snapshot once shown")
    finally:
        await feed.stop()


class Flaky(ScriptedClient):
    """An engine that refuses snapshots while ``down``, and can hang."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.down = False
        self.hang = False
        self.follows: list[int] = []

    async def snapshot(self):
        self.snapshot_calls += 1
        if self.hang:
            await asyncio.sleep(3600)
        if self.down:
            raise ControlError("unavailable", "daemon not listening on /run/vipdeck/control.sock")
        return self._snapshot

    async def follow(self, since=0):
        self.follows.append(since)
        if self.down:
            raise ControlError("unavailable", "daemon not listening on /run/vipdeck/control.sock")
        async for e in super().follow(since):
            yield e


async def test_an_engine_that_goes_away_is_reported_retried_with_backoff_and_resumed():
    client = Flaky(synthetic_snapshot(4, 2), [ev(1)])
    sink = Sink()
    feed = feed_for(client, sink)
    feed.start()
    try:
        await wait_for(lambda: feed.state.connected and sink.events(), 3, "connected")
        client.down = True
        client.end_stream()                     # the daemon goes away
        await wait_for(lambda: not feed.state.connected, 3, "the feed noticing")
        st = sink.of(NodeFeed.Status)[-1].state
        assert st.error == "daemon not listening on /run/vipdeck/control.sock" and st.reconnecting
        calls = client.snapshot_calls
        await asyncio.sleep(0.6)                # backoff 0.05, 0.1, 0.2, 0.2 ...: a few tries, not 60
        assert 2 <= client.snapshot_calls - calls <= 6
        client.push_event("transition", "while away")   # kept by the daemon, like its bus
        client.down = False
        await wait_for(lambda: feed.state.connected, 3, "reconnected")
        await wait_for(lambda: [e["seq"] for e in sink.events()] == [1, 2], 3, "the missed event, once")
        assert client.follows[0] == 0 and client.follows[-1] == 1       # resumed after the last seen
        assert not sink.of(NodeFeed.Status)[-1].state.reconnecting
    finally:
        await feed.stop()


async def test_a_hanging_engine_goes_stale_then_times_out():
    client = Flaky(synthetic_snapshot(4, 2))
    sink = Sink()
    feed = feed_for(client, sink, refresh_interval=0.05, stale_after=0.2, fetch_timeout=0.5)
    feed.start()
    try:
        await wait_for(lambda: feed.state.connected, 3, "connected")
        client.hang = True                      # e.g. ssh to a peer that stopped answering
        await wait_for(lambda: feed.state.stale, 3, "stale")
        st = feed.state
        assert st.connected and st.stale        # no answer yet, no failure either
        await wait_for(lambda: not feed.state.connected, 3, "the timeout")
        assert feed.state.error == "no snapshot within 0.5 s"
        client.hang = False
        await wait_for(lambda: feed.state.connected and not feed.state.stale, 3, "back")
    finally:
        await feed.stop()


async def test_stop_ends_every_task():
    client = ScriptedClient(synthetic_snapshot(2, 1))
    feed = feed_for(client, Sink())
    feed.start()
    await wait_for(lambda: client.snapshot_calls, 3, "a snapshot")
    await feed.stop()
    assert not feed._tasks
    calls = client.snapshot_calls
    await asyncio.sleep(0.05)
    assert client.snapshot_calls == calls
