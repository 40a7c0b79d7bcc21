"""Runs every checker of every real server concurrently, on asyncio.

One scheduler serves every checker: a heap of due times and one event-loop
timer for the earliest (a thousand real servers at delay_loop 1 are a
thousand checks a second, and a sleeping task per checker cost more than
the checks).  A due check starts without waiting for any other, so a slow,
hanging or black-holed target only ever delays its own checker.  TCP_CHECK
(the common case) runs without a task: a non-blocking connect watched with
one epoll of its own (see ``_FastWatch``), its connect_timeout a deadline
in the same scheduler; a plain HTTP_GET too, as a coroutine the runner
steps itself (``check.http.http_get_flow``: it yields what it waits for).  Every
other kind runs as a task bounded by an outer timeout so a bug cannot wedge
it.  Nothing escapes: an unexpected exception becomes a failed result
"internal error: ..." (logged and counted in ``internal_errors``) and the
checker is scheduled again.

The decisions themselves live in the sans-IO ``realserver`` and ``quorum``
modules; this module feeds them results and turns their changes into:

* events (``on_event(CheckEvent)``): kind ``check`` for a result that is
  news (a failure, a checker going UP or DOWN, the first success after a
  failure; a passing check of a healthy checker is not: its count and time
  are in the snapshot) and ``rs_state`` for a real server going UP/DOWN,
  its weight changing, or its virtual server gaining/losing quorum (``rs``
  is None then);
* ``on_change(vs_key)`` whenever the desired destinations of a virtual
  server change (and once per virtual server at start), so the daemon can
  reconcile IPVS from ``desired(vs_key)``.  ``vs_key`` is ``VirtualServer.key``;
  a second virtual server with the same key (TCP and UDP on one address and
  port) gets "KEY PROTOCOL"; ``vs_states[vs_key].config`` is the config;
* notify_up / notify_down / quorum_up / quorum_down through the injected
  ``run_script(notify, args)``, fire-and-forget (``args`` is empty:
  keepalived runs these command lines as written).  With ``omega`` the
  down notifiers run on shutdown too.

* keepalived's mails and notify FIFO lines through the injected
  ``notices`` (an ``engine.notify.checkers.CheckerNotices``): every checker
  result taken into account (it decides whether to mail), every real
  server going up or down, every quorum change, and with ``omega`` the
  shutdown of live real servers and of the quorum.

Timing: the first run of a checker comes after a random delay in
[0, warmup] (warmup defaults to delay_loop; 0 starts at once).  FILE_CHECK
has no timing of its own in keepalived (inotify); here the file is read at
start and then re-read every ``file_poll`` seconds (at most delay_loop).
Not here: uthreshold/lthreshold are IPVS destination fields (``lvs.py``
passes them to the kernel); ha_suspend is not implemented (checkers run
whatever the VRRP state; ``config.keywords`` says so with a warning).
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import logging
import os
import _socket
import random
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Sequence

from vipdeck.engine import logforms
from vipdeck.engine.config.model import Checker, FileCheck, MiscCheck, Notify, VirtualServer
from vipdeck.engine.check import file as file_check
from vipdeck.engine.check.http import Phase, Wait, http_get_flow
from vipdeck.engine.check.kinds import CHECKS, guard_timeout, run_check, unsupported_reason
from vipdeck.engine.check.net import describe, family_of, make_socket, sockaddr as tcp_sockaddr
from vipdeck.engine.check.quorum import Destination, QuorumChange, VirtualServerState
from vipdeck.engine.check.realserver import CheckerState, RealServerState
from vipdeck.engine.check.result import CheckEnv, CheckFailure, CheckResult, fmt_seconds

log = logging.getLogger("vipdeck.check")

RunScript = Callable[[Notify, Sequence[str]], Awaitable[Any]]
CheckCall = Callable[[Checker, CheckEnv], Awaitable[CheckResult]]
MIN_DELAY = 0.01
FALLBACK_DELAY = 1.0                # after an internal error, before trying again
COALESCE = 0.002                    # checks due this close together start in one wake-up


@dataclass(frozen=True)
class CheckEvent:
    """Shaped for ``EventBus.emit(kind, message, severity, **fields)``."""

    kind: str                       # "check" | "rs_state"
    message: str
    severity: str = "info"
    fields: dict[str, Any] = field(default_factory=dict)


class _Slot:
    """One checker in the scheduler: where it belongs and what is in flight."""

    __slots__ = ("vs", "rs", "cs", "fast", "task", "sock", "token", "t0", "addr", "family", "flow", "coro",
                 "wait_fd", "phase")

    def __init__(self, vs: VirtualServerState, rs: RealServerState, cs: CheckerState, fast: bool):
        self.vs, self.rs, self.cs, self.fast = vs, rs, cs, fast
        self.task: asyncio.Task | None = None       # a check of another kind, running
        self.sock: socket.socket | None = None      # a TCP_CHECK connect in flight
        self.token = 0                              # which connect the pending deadline is for
        self.t0 = 0.0
        self.addr: tuple | None = None              # TCP_CHECK destination, worked out once
        self.family = 0
        self.flow = False                           # a plain HTTP_GET, stepped by the runner
        self.coro = None                            # ... its run in flight
        self.wait_fd = -1                           # ... the socket it waits on (-1: none)
        self.phase = ""                             # ... what its pending deadline fails with


class _FastWatch:
    """The TCP_CHECK connects in flight, in one epoll of their own.

    The loop watches that epoll's descriptor once; a connect in flight is one
    ``epoll.register`` (C) and its end one entry in a poll, where the loop's
    own ``add_writer``/``remove_writer`` made and dropped a Handle, a selector
    key and two epoll_ctl calls for every check.  Closing a socket removes
    it from the epoll (the kernel does, for a descriptor never duplicated),
    so a finished or timed-out connect needs no unregister either.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, done: Callable[["_Slot"], None]):
        self.loop = loop
        self.done = done
        self.ep = select.epoll()
        self.slots: dict[int, "_Slot"] = {}
        try:
            loop.add_reader(self.ep.fileno(), self._ready)
        except BaseException:
            self.ep.close()
            raise

    def watch(self, fd: int, slot: "_Slot", events: int = select.EPOLLOUT, fresh: bool = True) -> None:
        """``fresh``: the socket's first wait (a one-shot registration stays
        in the epoll, disarmed, until the socket is closed: later waits re-arm it)."""
        flags = events | select.EPOLLONESHOT
        if fresh:
            try:
                self.ep.register(fd, flags)
            except FileExistsError:
                # a descriptor number whose earlier file is still registered
                # (a factory that kept a duplicate of a closed socket)
                self.ep.modify(fd, flags)
        else:
            self.ep.modify(fd, flags)
        self.slots[fd] = slot

    def forget(self, fd: int) -> None:
        """Before the socket is closed (its descriptor may be reused at once)."""
        self.slots.pop(fd, None)

    def _ready(self) -> None:
        slots, done = self.slots, self.done
        for fd, _ in self.ep.poll(0, max(1, len(slots))):
            slot = slots.pop(fd, None)
            if slot is not None:
                done(slot)

    def close(self) -> None:
        try:
            self.loop.remove_reader(self.ep.fileno())
        finally:
            self.ep.close()
            self.slots.clear()


class CheckRunner:
    def __init__(self, virtual_servers: Iterable[VirtualServer], *,
                 env: CheckEnv | None = None,
                 run_script: RunScript | None = None,
                 on_event: Callable[[CheckEvent], None] | None = None,
                 on_change: Callable[[str], None] | None = None,
                 rng: random.Random | None = None,
                 file_poll: float = 1.0,
                 check: CheckCall | None = None,
                 shutdown_timeout: float = 10.0,
                 log_all_failures: bool = False,
                 notices: Any = None):
        self.env = env or CheckEnv()
        self.run_script = run_script
        self.on_event = on_event
        self.on_change = on_change
        self.rng = rng or random.Random()
        self.file_poll = file_poll
        self._check = check or run_check
        self.shutdown_timeout = shutdown_timeout
        self.log_all_failures = log_all_failures      # global_defs checker_log_all_failures
        self.notices = notices                        # mails and FIFO lines (engine.notify.checkers)
        self.internal_errors = 0
        self.vs_states: dict[str, VirtualServerState] = {}
        supported = set(CHECKS)
        for vs in virtual_servers:
            reals = [RealServerState.build(rs, vs.port, supported, self._initial_file_states(rs.checkers))
                     for rs in vs.real_servers]
            key = vs.key
            if key in self.vs_states:
                # e.g. a TCP and a UDP service on the same address and port
                key = f"{vs.key} {vs.protocol}"
            self.vs_states[key] = VirtualServerState(vs, reals, key)
        self._slots: list[_Slot] = []
        self._due: list[tuple[float, int, _Slot]] = []          # (loop time, seq, slot): next runs
        self._deadlines: list[tuple[float, int, _Slot]] = []    # (loop time, token, slot): TCP connect timeouts
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._wall_offset = 0.0          # time.time() - loop.time(), refreshed once a second
        self._wall_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: _FastWatch | None = None     # TCP_CHECK connects in flight (None: the loop's add_writer)
        # the C socket type where the plain one is asked for: the Python subclass's
        # __init__ and close() were a tenth of a TCP_CHECK's CPU (no makefile() here)
        self._fast_factory = _socket.socket if self.env.socket_factory is socket.socket else None
        self._script_tasks: set[asyncio.Task] = set()
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ queries

    def key_of(self, vs: VirtualServer | str) -> str:
        """The runner's key for a virtual server config (or a key, unchanged)."""
        if isinstance(vs, str):
            return vs
        for key, state in self.vs_states.items():
            if state.config is vs:
                return key
        for key, state in self.vs_states.items():
            if state.config == vs:
                return key
        raise KeyError(f"virtual_server {vs.key} is not run by this runner")

    def vs(self, vs: VirtualServer | str) -> VirtualServerState:
        return self.vs_states[self.key_of(vs)]

    def real_server(self, vs: VirtualServer | str, rs_key: str) -> RealServerState:
        rs = self.vs(vs).real(rs_key)
        if rs is None:
            raise KeyError(f"{rs_key} is not a real server of {self.key_of(vs)}")
        return rs

    def desired(self, vs: VirtualServer | str) -> tuple[Destination, ...]:
        """Desired destinations; pass the VirtualServer itself to be exact
        when two services share an address and port (TCP and UDP)."""
        return self.vs(vs).destinations()

    def snapshot(self) -> list[dict]:
        out = []
        for vs in self.vs_states.values():
            c = vs.config
            dests = vs.destinations()
            by_key = {(d.address, d.port): d for d in dests if not d.sorry}
            s = c.sorry_server
            out.append({
                "key": vs.key, "quorum": c.quorum, "hysteresis": c.hysteresis,
                "quorum_ok": vs.quorum_up, "weight_sum": vs.weight_sum(),
                "sorry_server": None if s is None else Destination(
                    s.address, s.port if s.port is not None else (c.port or 0), 0, s.forward).key,
                "sorry_active": vs.sorry_active,
                "destinations": [{"address": d.address, "port": d.port, "weight": d.weight,
                                  "forward": d.forward.value, "sorry": d.sorry} for d in dests],
                "real_servers": [self._rs_snapshot(r, by_key.get((r.config.address, r.port)))
                                 for r in vs.reals],
            })
        return out

    @staticmethod
    def _rs_snapshot(r: RealServerState, dest: Destination | None) -> dict:
        return {
            "key": r.key, "address": r.config.address, "port": r.port,
            "forward": r.config.forward.value, "weight_config": r.config.weight,
            "weight_effective": r.weight, "alive": r.alive, "state": r.state,
            "desired_weight": None if dest is None else dest.weight,
            "error": r.error, "latency": r.latency, "failures": r.failures,
            "checkers": [c.snapshot() for c in r.checkers],
        }

    # ------------------------------------------------------------------ lifecycle

    def adopt(self, previous: "CheckRunner") -> int:
        """Carry health state over from the runner this one replaces (a reload).

        Without it every real server would start UP again after a reload, so
        a dead one went back into IPVS until its checker failed retry+1 more
        times.  Like keepalived's migrate_checkers: a real server keeps its
        state when its checkers are unchanged (file positions aside); its
        virtual server keeps an active sorry server when that is unchanged, so
        nothing is announced twice.  Call before :meth:`start`; returns the
        number of real servers carried over.
        """
        carried = 0
        for key, vs in self.vs_states.items():
            old_vs = previous.vs_states.get(key)
            if old_vs is None:
                continue
            for rs in vs.reals:
                old = old_vs.real(rs.key)
                # config objects compare without their file:line (model.where())
                if old is None or [c.checker for c in old.checkers] != [c.checker for c in rs.checkers]:
                    continue
                for new_c, old_c in zip(rs.checkers, old.checkers):
                    for name in ("up", "has_run", "failures", "runs", "total_failures", "last", "last_time",
                                 "dyn_weight", "delta"):
                        setattr(new_c, name, getattr(old_c, name))
                rs.alive = rs.compute_alive()
                rs.ever_notified = old.ever_notified
                carried += 1
            if old_vs.sorry_active and old_vs.config.sorry_server == vs.config.sorry_server:
                vs.sorry_active = True
        return carried

    def start(self) -> None:
        """Announce the initial state and schedule every supported checker."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        if any(rs.checkers for vs in self.vs_states.values() for rs in vs.reals):
            try:
                self._watch = _FastWatch(self._loop, self._ready)
            except (OSError, NotImplementedError, AttributeError) as exc:   # a loop without add_reader
                log.debug("TCP_CHECK connects watched by the loop itself: %s", exc)
        self._wall_at = self._loop.time()
        self._wall_offset = time.time() - self._wall_at
        for vs in self.vs_states.values():
            qc = vs.initialise()
            if qc is not None:
                self._quorum_changed(vs, qc)
            self._changed(vs.key)
            for rs in vs.reals:
                for cs in rs.checkers:
                    if cs.unsupported:
                        log.warning("%s of %s: %s", rs.key, vs.key, unsupported_reason(cs.checker.kind))
                        self._emit("check", f"{rs.key} of {vs.key}: {unsupported_reason(cs.checker.kind)}",
                                   "warning", vs=vs.key, rs=rs.key, checker=cs.label,
                                   checker_kind=cs.checker.kind, ok=None, latency=None,
                                   error="unsupported", failures=0, up=None)
                        continue
                    slot = _Slot(vs, rs, cs, self._fast_tcp(cs.checker))
                    slot.flow = self._flow_http(cs.checker)
                    try:
                        delay = float(self._first_delay(cs.checker))
                    except Exception:
                        log.exception("checker %s of %s %s: bad timing options", cs.label, vs.key, rs.key)
                        delay = FALLBACK_DELAY
                    self._slots.append(slot)
                    self._schedule(slot, delay)

    async def run(self) -> None:
        """Run until cancelled, then stop cleanly (omega notifiers included)."""
        self.start()
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await self.stop()

    async def stop(self, omega: bool = True) -> None:
        """Stop every loop; ``omega`` runs keepalived's shutdown notifiers, which
        belong to a real shutdown only (a reload hands the state on instead)."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()
        self._deadlines.clear()
        tasks = []
        for slot in self._slots:
            if slot.sock is not None:
                self._close_fast(slot)
            if slot.coro is not None:
                self._end_flow(slot)
            if slot.task is not None:
                slot.task.cancel()
                tasks.append(slot.task)
                slot.task = None
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if omega:
            await self._omega()

    async def _omega(self) -> None:
        """keepalived's omega: on shutdown, alive servers' notify_down and the
        virtual server's quorum_down run (and are waited for, bounded)."""
        pending: list[asyncio.Task] = list(self._script_tasks)
        for vs in self.vs_states.values():
            if not vs.config.omega:
                continue
            for rs in vs.reals:
                if rs.alive:
                    self._emit("rs_state", f"{rs.key} of {vs.key} is DOWN: shutting down", "info",
                               vs=vs.key, rs=rs.key, state="DOWN", reason="shutdown")
                    if rs.config.notify_down is not None:
                        pending.append(self._spawn(rs.config.notify_down))
                    self._notice("real_server_shutdown", vs.config, rs.config, rs.port)
            self._emit("rs_state", f"{vs.key}: quorum down: shutting down", "info",
                       vs=vs.key, rs=None, state="QUORUM_DOWN", reason="shutdown")
            self._notice("quorum_shutdown", vs.config)
            if vs.config.quorum_down is not None:
                pending.append(self._spawn(vs.config.quorum_down))
        pending = [t for t in pending if t is not None]
        if pending:
            done, not_done = await asyncio.wait(pending, timeout=self.shutdown_timeout)
            for t in not_done:
                t.cancel()

    # ------------------------------------------------------------------ loops

    def _initial_file_states(self, checkers: tuple[Checker, ...]) -> dict[int, bool]:
        """FILE_CHECK state is known at once (keepalived reads the file at start)."""
        out = {}
        for i, c in enumerate(checkers):
            if isinstance(c, FileCheck):
                try:
                    value = file_check.read_value(file_check.file_path(c, self.env))
                    out[i] = file_check.evaluate(value, c.weight, c.reverse, c.dynamic)[0]
                except CheckFailure:
                    out[i] = False
        return out

    def _file_interval(self, c: Checker) -> float:
        return max(MIN_DELAY, min(self.file_poll, c.delay_loop))

    def _first_delay(self, c: Checker) -> float:
        if isinstance(c, FileCheck):
            return 0.0
        warm = c.warmup if c.warmup is not None else c.delay_loop
        return self.rng.uniform(0, warm) if warm > 0 else 0.0

    # ------------------------------------------------------------------ scheduler

    def scheduled(self) -> int:
        """How many checkers are waiting for their next run or running (for tests)."""
        return len(self._due) + sum(1 for s in self._slots
                                    if s.task is not None or s.sock is not None or s.coro is not None)

    def _fast_tcp(self, c: Checker) -> bool:
        """TCP_CHECK through the real check (not an injected one) needs no task."""
        return self._check is run_check and c.kind == "TCP_CHECK"

    def _flow_http(self, c: Checker) -> bool:
        """A plain HTTP_GET (SSL_GET keeps its task: the TLS layer is asyncio's)."""
        return self._check is run_check and c.kind == "HTTP_GET" and self._watch is not None

    def _schedule(self, slot: "_Slot", delay: float, now: float | None = None) -> None:
        self._seq += 1
        at = (self._loop.time() if now is None else now) + delay
        heapq.heappush(self._due, (at, self._seq, slot))
        self._arm(at)

    def _arm(self, at: float) -> None:
        """One loop timer, at the earliest thing the scheduler waits for."""
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._stopped:
            return
        now = self._loop.time()
        if now - self._wall_at > 1.0:
            # unix time for the results, read once a second rather than once a check
            self._wall_offset, self._wall_at = time.time() - now, now
        due, deadlines = self._due, self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, token, slot = heapq.heappop(deadlines)
            if slot.token == token:
                if slot.sock is not None:
                    self._fast_timeout(slot)
                elif slot.coro is not None:
                    self._flow_timeout(slot)
        soon = now + COALESCE
        while due and due[0][0] <= soon:
            slot = heapq.heappop(due)[2]
            self._launch(slot, now)
        while deadlines and deadlines[0][2].token != deadlines[0][1]:
            heapq.heappop(deadlines)          # finished in time: forget the deadline
        nxt = min(due[0][0] if due else float("inf"), deadlines[0][0] if deadlines else float("inf"))
        if nxt != float("inf"):
            self._arm(nxt)

    def _launch(self, slot: "_Slot", now: float) -> None:
        if slot.fast:
            try:
                self._fast_start(slot, now)
            except Exception:
                self._internal(slot)
            return
        if slot.flow:
            slot.t0 = now
            c = slot.cs.checker
            try:
                if slot.addr is None:
                    slot.addr, slot.family = tcp_sockaddr(c), family_of(c.connect_ip)
            except CheckFailure as exc:
                self._finish(slot, CheckResult(False, 0.0, str(exc)))
                return
            slot.coro = http_get_flow(c, self.env, self._fast_factory, slot.addr, slot.family)
            self._step(slot)
            return
        slot.t0 = now
        slot.task = self._loop.create_task(self._run_one(slot.cs.checker))
        slot.task.add_done_callback(lambda t, slot=slot: self._task_done(slot, t))

    def _task_done(self, slot: "_Slot", task: asyncio.Task) -> None:
        slot.task = None
        if task.cancelled() or self._stopped:
            return
        exc = task.exception()
        if exc is not None:
            self._internal(slot, exc)
            return
        self._finish(slot, task.result())

    def _finish(self, slot: "_Slot", result: CheckResult, now: float | None = None) -> None:
        """A result is in: decide (sans-IO), tell, and schedule the next run."""
        if self._stopped:
            return
        if now is None:
            now = self._loop.time()
        try:
            delay = self._apply(slot.vs, slot.rs, slot.cs, result, now + self._wall_offset)
            if isinstance(slot.cs.checker, FileCheck):
                delay = self._file_interval(slot.cs.checker)
            delay = max(MIN_DELAY, float(delay))
        except Exception:
            # never let one checker's trouble end its schedule (or touch others)
            self.internal_errors += 1
            log.exception("checker %s of %s %s failed; going on", slot.cs.label, slot.vs.key, slot.rs.key)
            delay = FALLBACK_DELAY
        self._schedule(slot, delay, now)

    def _internal(self, slot: "_Slot", exc: BaseException | None = None) -> None:
        self.internal_errors += 1
        log.error("checker %s of %s %s failed; going on", slot.cs.label, slot.vs.key, slot.rs.key,
                  exc_info=exc or True)
        if slot.sock is not None:
            self._close_fast(slot)
        if not self._stopped:
            self._schedule(slot, FALLBACK_DELAY)

    # ------------------------------------------------------------------ TCP_CHECK without a task

    def _fast_start(self, slot: "_Slot", now: float) -> None:
        """A non-blocking connect; the loop says when it is done (``add_writer``)."""
        c = slot.cs.checker
        slot.t0 = now
        try:
            if slot.addr is None:
                slot.addr, slot.family = tcp_sockaddr(c), family_of(c.connect_ip)
            addr = slot.addr
            sock = make_socket(c, self.env, socket.SOCK_STREAM, family=slot.family, factory=self._fast_factory)
        except CheckFailure as exc:
            self._finish(slot, CheckResult(False, self._loop.time() - slot.t0, str(exc)))
            return
        err = sock.connect_ex(addr)
        if err == 0:
            sock.close()
            self._finish(slot, CheckResult(True, self._loop.time() - slot.t0))
            return
        if err not in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            sock.close()
            self._finish(slot, CheckResult(False, self._loop.time() - slot.t0,
                                           describe(OSError(err, os.strerror(err)))))
            return
        slot.sock = sock
        self._seq += 1
        slot.token = self._seq
        at = slot.t0 + c.connect_timeout
        heapq.heappush(self._deadlines, (at, slot.token, slot))
        self._arm(at)
        if self._watch is not None:
            self._watch.watch(sock.fileno(), slot)
        else:
            self._loop.add_writer(sock.fileno(), self._fast_done, slot)

    def _ready(self, slot: "_Slot") -> None:
        """The watch's word: a socket a check waits on is ready."""
        if slot.coro is not None:
            slot.wait_fd = -1
            self._step(slot)
        else:
            self._fast_done(slot)

    # ------------------------------------------------------------------ HTTP_GET without a task

    def _step(self, slot: "_Slot") -> None:
        """Run the check's coroutine to what it waits for next, or to its end."""
        coro = slot.coro
        try:
            while True:
                req = coro.send(None)
                if isinstance(req, Phase):
                    self._seq += 1
                    slot.token = self._seq
                    slot.phase = req.message
                    at = self._loop.time() + req.seconds
                    heapq.heappush(self._deadlines, (at, slot.token, slot))
                    self._arm(at)
                    continue
                if isinstance(req, Wait):
                    slot.wait_fd = req.fd
                    self._watch.watch(req.fd, slot, req.events, req.fresh)
                    return
                raise TypeError(f"HTTP_GET flow yielded {req!r}")
        except StopIteration:
            result = CheckResult(True, self._loop.time() - slot.t0)
        except CheckFailure as exc:
            result = CheckResult(False, self._loop.time() - slot.t0, str(exc))
        except Exception as exc:
            self.internal_errors += 1
            log.exception("%s check of %s crashed", slot.cs.checker.kind, slot.cs.checker.connect_ip)
            result = CheckResult(False, self._loop.time() - slot.t0, f"internal error: {exc!r}")
        self._end_flow(slot)
        self._finish(slot, result)

    def _flow_timeout(self, slot: "_Slot") -> None:
        message = slot.phase
        self._end_flow(slot)
        self._finish(slot, CheckResult(False, self._loop.time() - slot.t0, message))

    def _end_flow(self, slot: "_Slot") -> None:
        """Forget the wait (before its socket closes: the number may be reused
        at once), then end the coroutine, whose ``finally`` closes the socket."""
        coro, slot.coro = slot.coro, None
        slot.token = 0
        if slot.wait_fd >= 0:
            if self._watch is not None:
                self._watch.forget(slot.wait_fd)
            slot.wait_fd = -1
        if coro is not None:
            try:
                coro.close()
            except Exception:
                log.exception("closing an HTTP_GET check failed")

    def _fast_done(self, slot: "_Slot") -> None:
        sock = slot.sock
        if sock is None:
            return
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._close_fast(slot)
        now = self._loop.time()
        latency = now - slot.t0
        if err == 0:
            result = CheckResult(True, latency)
        else:
            result = CheckResult(False, latency, describe(OSError(err, os.strerror(err))))
        self._finish(slot, result, now)

    def _fast_timeout(self, slot: "_Slot") -> None:
        self._close_fast(slot)
        self._finish(slot, CheckResult(False, self._loop.time() - slot.t0,
                                       f"connect timeout after {fmt_seconds(slot.cs.checker.connect_timeout)}"))

    def _close_fast(self, slot: "_Slot") -> None:
        sock, slot.sock = slot.sock, None
        slot.token = 0
        if sock is None:
            return
        try:
            if self._watch is not None:
                self._watch.forget(sock.fileno())
            else:
                self._loop.remove_writer(sock.fileno())
        finally:
            sock.close()

    async def _run_one(self, c: Checker) -> CheckResult:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        limit = None
        try:
            limit = guard_timeout(c)
            async with asyncio.timeout(limit):
                return await self._check(c, self.env)
        except TimeoutError:
            self.internal_errors += 1
            return CheckResult(False, loop.time() - t0, f"check did not finish within {fmt_seconds(limit or 0)}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.internal_errors += 1
            log.exception("%s check of %s crashed", c.kind, c.connect_ip)
            return CheckResult(False, loop.time() - t0, f"internal error: {exc!r}")

    # ------------------------------------------------------------------ decisions → effects

    def _apply(self, vs: VirtualServerState, rs: RealServerState, cs: CheckerState,
               result: CheckResult, wall: float | None = None) -> float:
        weight_before = rs.weight
        first_run = not cs.has_run
        up_before = cs.up
        alive_before = rs.alive
        last_before = cs.last
        delay = cs.record(result, time.time() if wall is None else wall)
        if not result.ok or cs.up != up_before or (last_before is not None and not last_before.ok):
            # a passing check of a healthy checker is no news: no event (its count is in the snapshot)
            self._result_event(vs, rs, cs, result)
        if first_run or cs.up != up_before or not result.ok:
            self._log_checker(vs, rs, cs, result, first_run, up_before)
        changed = rs.update_alive()
        if changed is not None:
            self._rs_changed(vs, rs, changed)
        elif first_run and not result.ok and cs.checker.alpha and not rs.alive and not rs.ever_notified:
            # keepalived: an alpha checker failing its first run announces DOWN once
            self._rs_changed(vs, rs, False, initial=True)
        weight = rs.weight
        if weight != weight_before:
            log.info("%s", logforms.weight_change(weight_before, weight, rs.alive, logforms.service(
                rs.config.address, vs.config.protocol, rs.port), _fmt_vs(vs.config)))
            self._emit("rs_state", f"{rs.key} of {vs.key}: weight {weight_before} → {weight}", "info",
                       vs=vs.key, rs=rs.key, state="UP" if rs.alive else "DOWN", weight=weight,
                       weight_before=weight_before)
        if changed is not None or weight != weight_before:
            # the pool depends on alive servers' weights only: nothing else can move it
            # (so a passing check costs O(1), not a walk over the virtual server)
            qc = vs.update()
            if qc is not None:
                self._quorum_changed(vs, qc)
            self._changed(vs.key)
        # keepalived mails after the real server and quorum changes it caused;
        # a first run "settles" when it succeeds or fails past its retries
        if self.notices is not None and rs.config.smtp_alert:
            # (CheckerNotices.checker_changed only ever mails, and only for a real
            # server with smtp_alert: asking it about every passing check cost more)
            self._notice("checker_changed", vs.config, rs.config, rs.port, cs.checker.kind, up=cs.up,
                         was_up=up_before, first_run=first_run and (result.ok or not cs.up), alive=rs.alive,
                         alive_before=alive_before, reason=result.error)
        return delay

    def _result_event(self, vs: VirtualServerState, rs: RealServerState, cs: CheckerState,
                      result: CheckResult) -> None:
        c = cs.checker
        if result.ok:
            msg = f"{cs.label} {rs.key} of {vs.key}: ok in {result.latency * 1000:.1f} ms"
            severity = "info"
        else:
            retry = (f" (failure {cs.failures}/{cs.retry + 1} before DOWN)" if cs.up
                     else f" (failure {cs.failures})")
            msg = f"{cs.label} {rs.key} of {vs.key}: {result.error}{retry}"
            severity = "warning"
        self._emit("check", msg, severity, vs=vs.key, rs=rs.key, checker=cs.label, checker_kind=c.kind,
                   ok=result.ok, latency=result.latency, error=result.error, failures=cs.failures,
                   up=cs.up, weight=result.weight)

    def _log_checker(self, vs: VirtualServerState, rs: RealServerState, cs: CheckerState,
                     result: CheckResult, first_run: bool, up_before: bool) -> None:
        """keepalived's checker lines: the state at the first run and every change;
        with log_all_failures also each failed attempt of an UP checker."""
        c = cs.checker
        svc = logforms.service(c.connect_ip, vs.config.protocol, c.connect_port)
        if not result.ok and up_before and cs.up and (c.log_all_failures or self.log_all_failures):
            log.info("%s", logforms.checker_attempt(c.kind, svc, result.error))
        if not first_run and cs.up == up_before:
            return
        retries = cs.retry if (not cs.up and cs.retry and cs.failures > 1) else 0
        line = logforms.checker_result(c.kind, svc, cs.up, retries=retries,
                                       reason=None if cs.up else result.error,
                                       misc_script=c.misc_path if isinstance(c, MiscCheck) else None,
                                       vs=_fmt_vs(vs.config))
        log.log(logging.INFO if cs.up else logging.WARNING, "%s", line)

    def _rs_changed(self, vs: VirtualServerState, rs: RealServerState, alive: bool,
                    initial: bool = False) -> None:
        rs.ever_notified = True
        state = "UP" if alive else "DOWN"
        why = "" if alive else f": {rs.error}" if rs.error else ""
        self._emit("rs_state", f"{rs.key} of {vs.key} is {state}{why}",
                   "info" if alive else "warning", vs=vs.key, rs=rs.key, state=state,
                   weight=rs.weight, error=None if alive else rs.error, initial=initial)
        log.log(logging.INFO if alive else logging.WARNING, "%s", logforms.real_server_change(
            logforms.service(rs.config.address, vs.config.protocol, rs.port), _fmt_vs(vs.config), alive,
            inhibit=rs.inhibit, reason=None if alive else rs.error))
        notify = rs.config.notify_up if alive else rs.config.notify_down
        if notify is not None:
            self._spawn(notify)
        self._notice("real_server_changed", vs.config, rs.config, rs.port, alive)

    def _quorum_changed(self, vs: VirtualServerState, qc: QuorumChange) -> None:
        c = vs.config
        if qc.up:
            msg = f"{vs.key}: gained quorum, weight {qc.weight_sum} ≥ {c.quorum}+{c.hysteresis}"
        else:
            what = "starting with quorum down" if qc.init else "lost quorum"
            msg = f"{vs.key}: {what}, weight {qc.weight_sum} < {c.quorum}-{c.hysteresis}"
        if qc.sorry_in:
            msg += "; sorry server in"
        if qc.sorry_out:
            msg += "; sorry server out"
        self._emit("rs_state", msg, "info" if qc.up else "warning", vs=vs.key, rs=None,
                   state="QUORUM_UP" if qc.up else "QUORUM_DOWN", weight_sum=qc.weight_sum,
                   quorum=c.quorum, hysteresis=c.hysteresis, sorry_active=vs.sorry_active)
        log.log(logging.INFO if qc.up else logging.WARNING, "%s", logforms.quorum_change(
            _fmt_vs(c), qc.up, qc.weight_sum, c.quorum, c.hysteresis, init=qc.init))
        script = c.quorum_up if qc.up else c.quorum_down
        if script is not None:
            self._spawn(script)
        self._notice("quorum_changed", c, qc.up, init=qc.init, weight_sum=qc.weight_sum, threshold=qc.threshold)

    # ------------------------------------------------------------------ outputs

    def _emit(self, event_kind: str, message: str, severity: str, **fields: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(CheckEvent(event_kind, message, severity, fields))
        except Exception:
            log.exception("check event listener failed")

    def _notice(self, what: str, *args: Any, **kw: Any) -> None:
        """Tell ``notices``; its trouble is logged, never the runner's."""
        if self.notices is None:
            return
        try:
            getattr(self.notices, what)(*args, **kw)
        except Exception:
            log.exception("checker notice %s failed", what)

    def _changed(self, vs_key: str) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(vs_key)
        except Exception:
            log.exception("on_change(%s) failed", vs_key)

    def _spawn(self, notify: Notify, args: Sequence[str] = ()) -> asyncio.Task | None:
        if self.run_script is None:
            return None
        run_script = self.run_script

        async def go() -> None:
            try:
                await run_script(notify, tuple(args))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notify script %s failed to run", notify.command)

        task = asyncio.ensure_future(go())
        self._script_tasks.add(task)
        task.add_done_callback(self._script_tasks.discard)
        return task


def _fmt_vs(vs: VirtualServer) -> str:
    return logforms.virtual_service(vs.address, vs.protocol, vs.port, fwmark=vs.fwmark, group=vs.group)
