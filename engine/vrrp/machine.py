"""Sans-IO VRRP state machine, one per instance.

The machine never reads a clock, touches a socket or awaits anything: the
driver feeds it events stamped with the current (monotonic) time through
``handle(now, event)`` and performs the returned actions in order; it calls
``handle(now, Timer())`` when ``next_deadline()`` has passed (an early or
spurious ``Timer`` does nothing).  That lets the same code run over real
sockets, in a simulated network and under a virtual clock in unit tests.

It implements RFC 5798's state tables (which RFC 3768's match, apart from
the interval learning) plus keepalived's FAULT and STOP states and the
operator actions of the design notes.  Where keepalived 2.2.7 departs from
or adds to the RFC, we follow keepalived, because it is our interop peer;
these choices were checked against keepalived 2.2.7 in a namespace lab:

* **Startup.**  keepalived starts every instance in BACKUP; only an address
  owner (priority 255) *configured* ``state MASTER`` becomes master at once.
  ``state MASTER`` with priority 100 alone on a link became master 3.64 s
  after start (Master_Down_Interval), and priority 255 with ``state BACKUP``
  after 3.03 s: ``state MASTER`` is not a shortcut for lower priorities.
* **Backup seeing a lower priority** (with preempt): the advert is discarded
  (the Master_Down_Timer is not reset), so the backup takes over one
  Master_Down_Interval after the last advert it accepted — as RFC 5798 says
  and keepalived 2.2.7 logs ("received lower priority ... - discarding").
  Older keepalived (1.x) preempted at once; we do not.
* **preempt_delay** (keepalived): the first lower-priority advert starts the
  delay; until it has passed, lower adverts are accepted like any other
  (they reset the timer), afterwards they are discarded as above.  So the
  takeover comes Master_Down_Interval after the first lower advert accepted
  after the delay ran out — keepalived measured: first lower advert + 2 s +
  3.61 s with ``preempt_delay 2``, priority 100.  Alone on the link the delay
  does not apply (plain Master_Down_Interval, measured 3.64 s).
* **Master seeing a lower priority** (or an equal priority from a lower
  address) sends an advert at once and restarts its advert timer (RFC 9568
  6.4.3; keepalived's default), so a confused peer hears the real master
  soon; with ``lower_prio_no_advert`` (forced by strict mode: RFC 5798 says
  discard) it sends nothing and its timer runs on.  Either way it asks for
  ``LowerPriorityMaster``: another router believed it was master, so hosts
  may hold that router's MAC for our VIPs (a split brain that just healed);
  the driver re-announces them (``garp_lower_prio_repeat`` /
  ``garp_lower_prio_delay``) and runs ``notify_master_rx_lower_pri``, as
  keepalived does.
* **Master seeing priority 0** sends an advert at once (RFC 5798).
* **Master seeing a higher priority** (or an equal one from a higher address)
  goes BACKUP silently, unless ``higher_prio_send_advert``: then it first
  sends one advert at its own priority, so the winner hears a lower-priority
  master and re-announces its VIPs.  Without it a split brain healing races:
  when the winner's advert arrives first, the loser steps down before the
  winner ever hears it, and hosts keep the loser's MAC.
* **Config fault** (``ConfigFault``, e.g. unicast_fault_no_peer, a VMAC that
  cannot be made): FAULT for as long as it lasts, like keepalived's
  ``num_config_faults``; it counts as the instance's own fault.
* **Effective priority** = base + tracker delta clamped to 1..254; an owner
  (255) stays 255 and nothing else reaches 255 (keepalived man page).
* **FAULT**: interface down or an unweighted tracker failing.  A master goes
  to FAULT removing its VIPs; when a *tracker* caused it, it first sends a
  priority-0 advert (the link still works, so a backup takes over after
  Skew_Time instead of Master_Down_Interval).  Leaving FAULT is a fresh start
  (owner + ``state MASTER`` → MASTER, otherwise BACKUP).

Operator actions (design notes, principle 4):

* **Drain**: a master resigns at once (priority-0 advert, VIPs removed,
  → BACKUP, reason "operator").  While drained the instance elects with
  priority 1: it never preempts, and its Skew_Time is the longest, so every
  other backup beats it.  It still becomes master if the Master_Down_Timer
  expires, i.e. when no other router is alive — the VIPs are never left with
  nobody.  While drained and master it advertises priority 1, so a returning
  router with preempt takes over after its own Master_Down_Interval, and any
  advert from another router makes it step down at once.  Undrain restores
  normal election (with preempt if configured).  Draining the only live
  router therefore leaves the VIPs unserved for one Master_Down_Interval
  (priority 1: about 4 advert intervals) before it serves them again; the
  console is meant to warn before that.
* **Resign(hold_until)**: a master resigns as above; until ``hold_until`` (or
  ``ClearHold``; ``None`` = until cleared) the instance does not preempt.  It
  still takes over if the master dies (timer expiry).
* **Takeover(on)**: effective priority becomes at least
  min(254, seen master priority + 1); if that beats the current master
  (priority, then address tie-break) the backup becomes master at once,
  overriding nopreempt and any hold.  A master of priority 255, or of 254
  with a higher address, cannot be beaten and nothing happens.  Ignored while
  drained (undrain first).  The takeover lasts until ``Takeover(False)``
  (or a drain or resign).  One given before any master is known (the
  daemon restarted with it persisted, the instance in INIT or FAULT) is
  *pending* (``takeover_pending``): the first advert heard from a master
  sets the priority above it and, if that wins, makes the instance master
  at once — also when it has become master meanwhile (its sync group
  pulled it up) and then hears the master it is to take over from.  The
  raise happens once per takeover, so two routers taking over the same
  VRID do not outbid each other: the later one wins.  While a takeover is
  on, a BACKUP that beats the master it hears becomes master at once; a
  sync group member does so only through its group's gate (it wants
  MASTER and is held, cause ``operator``), except for the request itself
  and a pending takeover's first master, so a group whose other member
  cannot hold MASTER stays BACKUP instead of flapping.

Sync groups (``engine.vrrp.sync`` decides, these events carry it out; none
of them is an operator action, so nothing here forges a priority and every
transition they cause has the reason ``sync_group``):

* **SyncGate(open)**: whether the group lets this member become MASTER on
  its own.  A BACKUP whose Master_Down_Timer expires (master down, priority
  0 received, or preempting a lower master) while its gate is closed stays
  BACKUP and *wants* MASTER (``wants_master``; keepalived's wantstate): it
  re-arms the timer with a full Master_Down_Interval, like keepalived's
  ``vrrp_sync_can_goto_master``, and reports ``SyncHeld`` once.  Accepting
  an advert (a master it yields to) ends the wish; a priority-0 advert or a
  discarded lower one does not.  If the gate opens while it wants MASTER,
  it becomes MASTER at once with its own reason.  An address owner with
  ``state MASTER`` behind a closed gate starts in BACKUP and waits one
  advert interval plus Skew_Time (keepalived's start in a BACKUP group).
* **SyncMaster**: the group went MASTER; a BACKUP member becomes MASTER at
  once, advertising its own effective priority.  Ignored in other states.
* **SyncBackup**: the group went BACKUP; a MASTER member leaves for BACKUP
  without a priority-0 advert (keepalived's ``vrrp_state_leave_master`` with
  ``advF`` false), removing its VIPs.  Ignored in other states.
* **SyncFault(on)**: some member (this one or another) has a fault of its own.  It goes
  to FAULT (a master first sends priority 0, as keepalived does for a member
  the group takes to FAULT) and stays there until ``SyncFault(False)``, even
  if its own trackers and link are fine.  If its own fault clears while the
  group holds it, leaving FAULT later keeps that reason (tracker/interface).

Actions are listed in the order the driver should perform them: adverts
first (they tell peers at once), then VIPs, then GARP, and the ``Transition``
last, once the new state is in effect.  Counters live in the driver.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from vipdeck.engine.vrrp.packet import Advert

__all__ = [
    "State", "REASONS", "InstanceParams", "VrrpMachine",
    "Startup", "Shutdown", "Timer", "AdvertReceived", "TrackChanged", "InterfaceChanged", "ConfigFault",
    "Drain", "Resign", "ClearHold", "Takeover",
    "SyncGate", "SyncMaster", "SyncBackup", "SyncFault", "Event",
    "SendAdvert", "AddVips", "RemoveVips", "SendGarp", "LowerPriorityMaster", "Transition", "SyncHeld", "Action",
]


class State(str, enum.Enum):
    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"

    def __str__(self) -> str:
        return self.value


# Why a transition happened: a fixed vocabulary for notify, logs and the console.
STARTUP = "startup"
MASTER_DOWN_TIMER = "master_down_timer"
HIGHER_PRIORITY_SEEN = "higher_priority_seen"
PRIORITY_ZERO_RECEIVED = "priority_zero_received"
PREEMPT = "preempt"
TRACKER = "tracker"
CONFIG = "config"
INTERFACE = "interface"
OPERATOR = "operator"
SHUTDOWN = "shutdown"
SYNC_GROUP = "sync_group"
REASONS = frozenset({STARTUP, MASTER_DOWN_TIMER, HIGHER_PRIORITY_SEEN, PRIORITY_ZERO_RECEIVED,
                     PREEMPT, TRACKER, CONFIG, INTERFACE, OPERATOR, SHUTDOWN, SYNC_GROUP})

OWNER = 255
DRAINED_PRIORITY = 1

_DOWN_INTERVALS: dict[tuple[int, int], float] = {}


def _down_interval(priority: int, master_int_cs: int) -> float:
    """Master_Down_Interval in seconds, remembered per (priority, interval):
    a backup asks for it at every advert.  Integer true division is
    correctly rounded, as float(Fraction(n, d)) was, without importing
    fractions and decimal (issue 13)."""
    k = (priority, master_int_cs)
    v = _DOWN_INTERVALS.get(k)
    if v is None:
        if len(_DOWN_INTERVALS) > 4096:
            _DOWN_INTERVALS.clear()
        v = _DOWN_INTERVALS[k] = (3 * 256 + 256 - priority) * master_int_cs / 25600
    return v


@dataclass(frozen=True)
class InstanceParams:
    """What the machine needs of an instance (the daemon maps config → params)."""

    name: str
    vrid: int
    primary_address: str          # our address on the link: advert source, tie-break
    priority: int = 100           # base priority, 1..255 (255 = address owner)
    advert_int: float = 1.0       # seconds; v2 whole seconds, v3 0.01 s steps
    version: int = 2
    preempt: bool = True          # False = keepalived's nopreempt
    preempt_delay: float = 0.0    # seconds, 0..1000
    initial_state: str = "BACKUP"  # keepalived's `state`: "MASTER" or "BACKUP"
    family: int | None = None     # 4 or 6; None = from primary_address
    higher_prio_send_advert: bool = False   # keepalived's, see the module docstring
    lower_prio_no_advert: bool = False

    def __post_init__(self) -> None:
        def bad(fieldname: str, msg: str) -> ValueError:
            return ValueError(f"{self.name}: {fieldname}: {msg}")

        if not 1 <= self.vrid <= 255:
            raise bad("vrid", f"{self.vrid} (must be 1..255)")
        if self.version not in (2, 3):
            raise bad("version", f"{self.version} (must be 2 or 3)")
        if not 1 <= self.priority <= 255:
            raise bad("priority", f"{self.priority} (must be 1..255)")
        try:
            addr = ipaddress.ip_address(self.primary_address)
        except ValueError:
            raise bad("primary_address", f"{self.primary_address!r} is not an IP address") from None
        fam = addr.version if self.family is None else self.family
        if fam not in (4, 6) or fam != addr.version:
            raise bad("family", f"{self.family} does not match primary_address {self.primary_address}")
        object.__setattr__(self, "family", fam)
        if self.version == 2 and fam == 6:
            raise bad("version", "VRRPv2 is IPv4 only; use version 3 for IPv6")
        cs = round(self.advert_int * 100)
        if self.version == 2:
            if self.advert_int != int(self.advert_int) or not 1 <= self.advert_int <= 255:
                raise bad("advert_int", f"{self.advert_int} (VRRPv2 needs whole seconds 1..255)")
        elif not 1 <= cs <= 4095 or abs(cs - self.advert_int * 100) > 1e-6:
            raise bad("advert_int", f"{self.advert_int} (VRRPv3 needs 0.01..40.95 s in 0.01 s steps)")
        if not 0 <= self.preempt_delay <= 1000:
            raise bad("preempt_delay", f"{self.preempt_delay} (must be 0..1000 s)")
        if self.initial_state not in ("MASTER", "BACKUP"):
            raise bad("initial_state", f"{self.initial_state!r} (must be MASTER or BACKUP)")

    @property
    def advert_int_cs(self) -> int:
        return round(self.advert_int * 100)


# ---- events ---------------------------------------------------------------

@dataclass(frozen=True)
class Startup:
    pass


@dataclass(frozen=True)
class Shutdown:
    pass


@dataclass(frozen=True)
class Timer:
    pass


@dataclass(frozen=True)
class AdvertReceived:
    """An advert for our VRID that already passed ``packet.validate``."""

    advert: Advert


@dataclass(frozen=True)
class TrackChanged:
    """Trackers' combined state: ``delta`` = sum of weights in effect,
    ``fault`` = some unweighted tracker is down."""

    delta: int = 0
    fault: bool = False
    detail: str = ""


@dataclass(frozen=True)
class InterfaceChanged:
    up: bool
    detail: str = ""


@dataclass(frozen=True)
class ConfigFault:
    """Something in the configuration (or what it needs of the host) keeps the
    instance from running: FAULT while ``on``."""

    on: bool
    detail: str = ""


@dataclass(frozen=True)
class Drain:
    on: bool = True


@dataclass(frozen=True)
class Resign:
    hold_until: float | None = None   # same clock as `now`; None = until ClearHold


@dataclass(frozen=True)
class ClearHold:
    pass


@dataclass(frozen=True)
class Takeover:
    on: bool = True


@dataclass(frozen=True)
class SyncGate:
    """May this sync group member become MASTER by itself (see the module docstring)?"""

    open: bool
    detail: str = ""     # why it is closed, for SyncHeld and the logs


@dataclass(frozen=True)
class SyncMaster:
    """The member's sync group went MASTER: a BACKUP follows."""

    detail: str = ""


@dataclass(frozen=True)
class SyncBackup:
    """The member's sync group went BACKUP: a MASTER follows, without priority 0."""

    detail: str = ""


@dataclass(frozen=True)
class SyncFault:
    """Another member of the sync group has a fault of its own (on), or none has any more (off)."""

    on: bool
    detail: str = ""


Event = (Startup | Shutdown | Timer | AdvertReceived | TrackChanged | InterfaceChanged | ConfigFault
         | Drain | Resign | ClearHold | Takeover | SyncGate | SyncMaster | SyncBackup | SyncFault)


# ---- actions --------------------------------------------------------------

@dataclass(frozen=True)
class SendAdvert:
    priority: int
    interval: float   # seconds


@dataclass(frozen=True)
class AddVips:
    pass


@dataclass(frozen=True)
class RemoveVips:
    pass


@dataclass(frozen=True)
class SendGarp:
    """Announce the VIPs (GARP / unsolicited NA); the driver does repeats and delays."""


@dataclass(frozen=True)
class LowerPriorityMaster:
    """A router with a lower priority advertised as master while we are.

    Our advert (listed before this action) makes it step down, but hosts may
    still send to its MAC: announce the VIPs again, the way keepalived's
    ``garp_lower_prio_repeat`` / ``garp_lower_prio_delay`` do, and run
    ``notify_master_rx_lower_pri``.
    """

    source: str | None
    priority: int


@dataclass(frozen=True)
class Transition:
    """``master``: the other router it is about (the master it replaced on
    becoming MASTER, else the master it follows now); ``heard_at``: when the
    last advert from another router arrived before it (the old master's last,
    or its priority-0 advert); ``timer``: the seconds of the timer that made it
    MASTER (Master_Down_Interval, Skew_Time after a priority 0).  The failover
    timeline reads them: the wire alone cannot say when a backup decided."""

    old: State
    new: State
    reason: str
    detail: str
    at: float
    master: str | None = None
    heard_at: float | None = None
    timer: float | None = None

    def __str__(self) -> str:
        return f"{self.old} -> {self.new} ({self.reason}: {self.detail})"


@dataclass(frozen=True)
class SyncHeld:
    """The Master_Down_Timer expired but the sync group keeps this member in
    BACKUP (reported once per wish, not at every re-armed expiry)."""

    cause: str        # what would have made it master: master_down_timer, priority_zero_received, preempt, operator (a takeover)
    detail: str       # the cause's detail, then why the group holds it
    at: float

    def __str__(self) -> str:
        return f"held in BACKUP by its sync group ({self.cause}: {self.detail})"


Action = SendAdvert | AddVips | RemoveVips | SendGarp | LowerPriorityMaster | Transition | SyncHeld

TIMER = Timer()


class VrrpMachine:
    """One VRRP instance's protocol state; see the module docstring."""

    def __init__(self, params: InstanceParams) -> None:
        self.params = params
        self._own_ip = ipaddress.ip_address(params.primary_address)
        self._state = State.INIT
        self._delta = 0
        self._track_fault = False
        self._track_detail = ""
        self._if_up = True
        self._if_detail = ""
        self._config_fault = False
        self._config_detail = ""
        self._drained = False
        self._hold = False
        self._hold_until: float | None = None
        self._takeover = False                 # an operator takeover is on (see takeover_pending)
        self._takeover_prio: int | None = None  # its priority floor, once it has one
        self._master_addr: str | None = None
        self._master_prio: int | None = None
        self._master_int_cs = params.advert_int_cs
        self._last_advert_at: float | None = None
        self._adver_deadline: float | None = None
        self._down_deadline: float | None = None
        self._down_delay: float | None = None
        self._down_cause = MASTER_DOWN_TIMER
        self._down_detail = ""
        self._preempt_at: float | None = None
        self._last_transition: Transition | None = None
        # sync group (engine.vrrp.sync): outside a group the gate is always open
        self._sync_gate = True
        self._sync_gate_detail = ""
        self._wants_master = False
        self._sync_fault = False
        self._sync_fault_detail = ""
        self._own_fault_cleared: tuple[str, str] | None = None   # (reason, detail) while the group holds FAULT
        # the advert the last input was, when handling it again would only move the
        # master-down deadline (``refresh``), and that deadline's delay
        self._steady: Advert | None = None
        self._steady_delay = 0.0
        # the advert a master's timer answered last (see advert_due), while nothing
        # has happened since that could change it
        self._due: SendAdvert | None = None

    # ---- read-only view for status output ----------------------------------

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def state(self) -> State:
        return self._state

    @property
    def base_priority(self) -> int:
        return self.params.priority

    @property
    def tracked_priority(self) -> int:
        """Base priority plus tracker weights, clamped (owner stays 255)."""
        base = self.params.priority
        if base == OWNER:
            return OWNER
        return max(1, min(254, base + self._delta))

    @property
    def effective_priority(self) -> int:
        """The priority we elect and advertise with (drain and takeover included)."""
        if self._drained:
            return DRAINED_PRIORITY
        p = self.tracked_priority
        if self._takeover_prio is not None and p != OWNER:
            p = max(p, self._takeover_prio)
        return p

    @property
    def master_address(self) -> str | None:
        """Who we believe is master (our own address while MASTER)."""
        return self._master_addr

    @property
    def master_priority(self) -> int | None:
        if self._state is State.MASTER:
            return self.effective_priority
        return self._master_prio

    @property
    def master_interval(self) -> float:
        """Master_Adver_Interval in seconds (v3 learns it from the master)."""
        return self._master_int_cs / 100

    @property
    def last_advert_at(self) -> float | None:
        """When the last advert from another router arrived."""
        return self._last_advert_at

    @property
    def last_transition(self) -> Transition | None:
        return self._last_transition

    @property
    def drained(self) -> bool:
        return self._drained

    @property
    def held(self) -> bool:
        """Preemption held off by a Resign (as of the last handled event)."""
        return self._hold

    @property
    def hold_until(self) -> float | None:
        return self._hold_until if self._hold else None

    @property
    def takeover(self) -> bool:
        return self._takeover

    @property
    def takeover_pending(self) -> bool:
        """A takeover is on but has not made this instance master (yet): no
        master heard to raise our priority above, or one we cannot beat."""
        return self._takeover and self._state is not State.MASTER

    @property
    def interface_up(self) -> bool:
        return self._if_up

    @property
    def track_fault(self) -> bool:
        return self._track_fault

    @property
    def config_fault(self) -> bool:
        return self._config_fault

    @property
    def own_fault(self) -> bool:
        """A fault of this instance itself (link, unweighted tracker, config), not one its group imposed."""
        return not self._if_up or self._track_fault or self._config_fault

    @property
    def sync_fault(self) -> bool:
        """Held in FAULT by its sync group (``SyncFault``)."""
        return self._sync_fault

    @property
    def sync_gate(self) -> bool:
        return self._sync_gate

    @property
    def wants_master(self) -> bool:
        """A BACKUP whose timer expired while its sync group held it (keepalived's wantstate MASTER)."""
        return self._wants_master

    def skew_time(self, priority: int | None = None) -> float:
        """Skew_Time = (256 − priority) × Master_Adver_Interval / 256, in seconds."""
        p = self.effective_priority if priority is None else priority
        return (256 - p) * self._master_int_cs / 25600

    def master_down_interval(self, priority: int | None = None) -> float:
        """Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time, in seconds."""
        p = self.effective_priority if priority is None else priority
        return _down_interval(p, self._master_int_cs)

    def next_deadline(self) -> float | None:
        if self._state is State.MASTER:
            return self._adver_deadline
        if self._state is State.BACKUP:
            return self._down_deadline
        return None

    # ---- event entry point -------------------------------------------------

    @property
    def steady_advert(self) -> Advert | None:
        """The advert ``refresh`` takes again (None: none now)."""
        return self._steady

    def refresh(self, now: float, adv: Advert) -> float | None:
        """The backup's fast path: ``handle(now, AdvertReceived(adv))`` for the very
        advert object the last input was, when that input only accepted its master
        (BACKUP, priority at or above ours, no takeover, no hold, no input since).
        Handling it again would change nothing but when it was heard and the
        master-down deadline, so that is all this does (and the answer is no
        actions).  It returns the new deadline (``next_deadline()``'s answer, which
        the driver wants next: one call less per advert); None: not that case,
        call ``handle``."""
        if adv is not self._steady:
            return None
        self._last_advert_at = now
        d = self._down_deadline = now + self._steady_delay
        return d

    def advert_due(self, now: float) -> list[Action]:
        """``handle(now, Timer())``, fast for a master's advert timer when nothing
        has happened since the last one: every input goes through ``handle``,
        which forgets the advert remembered here, so while it is remembered the
        state, the effective priority and the interval are the ones it was made
        with and the answer can only be that advert again (the same object) and
        the timer re-armed one interval on.  A master of 255 instances at 0.1 s
        asks 2550 times a second; the general path (event dispatch, priority
        properties, a new frozen action) was a measurable part of its CPU."""
        a = self._due
        if a is None:
            out = self.handle(now, TIMER)
            if (len(out) == 1 and out[0].__class__ is SendAdvert and self._state is State.MASTER
                    and not self._hold):
                # not while a hold runs: its expiry is ``handle``'s to notice
                self._due = out[0]
            return out
        dl = self._adver_deadline
        if dl is None or now < dl:      # early (None cannot be: a master always has one)
            return []
        step = self.params.advert_int
        nxt = dl + step
        self._adver_deadline = nxt if nxt > now else now + step
        return [a]

    @property
    def due_advert(self) -> SendAdvert | None:
        """The advert ``advert_due`` would answer on its fast path (None: it
        would take ``handle``'s): what a driver may send a little before its
        deadline, as of the deadline (engine/vrrp/deadlines.py's batching)."""
        return self._due

    def handle(self, now: float, event: Event) -> list[Action]:
        self._steady = None
        self._due = None
        if self._hold and self._hold_until is not None and now >= self._hold_until:
            self._hold, self._hold_until = False, None
        match event:
            case Timer():
                return self._on_timer(now)
            case AdvertReceived(advert=adv):
                return self._on_advert(now, adv)
            case Startup():
                return self._on_startup(now)
            case Shutdown():
                return self._on_shutdown(now)
            case TrackChanged():
                return self._on_track(now, event)
            case InterfaceChanged():
                return self._on_interface(now, event)
            case ConfigFault():
                return self._on_config(now, event)
            case Drain(on=on):
                return self._on_drain(now, on)
            case Resign(hold_until=until):
                return self._on_resign(now, until)
            case ClearHold():
                self._hold, self._hold_until = False, None
                return []
            case Takeover(on=on):
                return self._on_takeover(now, on)
            case SyncGate():
                return self._on_sync_gate(now, event)
            case SyncMaster(detail=detail):
                if self._state is not State.BACKUP:
                    return []
                return self._become_master(now, SYNC_GROUP, detail or "sync group went MASTER")
            case SyncBackup(detail=detail):
                if self._state is not State.MASTER:
                    return []
                return self._become_backup(now, SYNC_GROUP, detail or "sync group went BACKUP", resign=False)
            case SyncFault():
                return self._on_sync_fault(now, event)
        raise TypeError(f"unknown event {event!r}")

    # ---- helpers -----------------------------------------------------------

    def _transition(self, now: float, new: State, reason: str, detail: str, *, master: str | None = None,
                    timer: float | None = None) -> Transition:
        if new is not State.MASTER and master is None:
            master = self._master_addr
        t = Transition(self._state, new, reason, detail, now, master, self._last_advert_at, timer)
        self._state = new
        self._wants_master = False
        self._last_transition = t
        return t

    def _advert(self, priority: int | None = None) -> SendAdvert:
        p = self.effective_priority if priority is None else priority
        return SendAdvert(p, self.params.advert_int)

    def _become_master(self, now: float, reason: str, detail: str) -> list[Action]:
        before = self._master_addr if self._master_addr != self.params.primary_address else None
        timer = self._down_delay if reason in (MASTER_DOWN_TIMER, PRIORITY_ZERO_RECEIVED) else None
        self._adver_deadline = now + self.params.advert_int
        self._down_deadline = None
        self._preempt_at = None
        self._master_addr = self.params.primary_address
        self._master_prio = self.effective_priority
        self._master_int_cs = self.params.advert_int_cs
        return [self._advert(), AddVips(), SendGarp(),
                self._transition(now, State.MASTER, reason, detail, master=before, timer=timer)]

    def _become_backup(self, now: float, reason: str, detail: str, *, resign: bool,
                       master: str | None = None) -> list[Action]:
        """Leave MASTER (or INIT/FAULT) for BACKUP, arming the Master_Down_Timer."""
        out: list[Action] = []
        if self._state is State.MASTER:
            if resign:
                out.append(SendAdvert(0, self.params.advert_int))
            out.append(RemoveVips())
            if self._master_addr == self.params.primary_address:
                self._master_addr, self._master_prio = None, None
        self._adver_deadline = None
        self._preempt_at = None
        self._arm_down(now, self.master_down_interval(), MASTER_DOWN_TIMER, "")
        out.append(self._transition(now, State.BACKUP, reason, detail, master=master))
        return out

    def _arm_down(self, now: float, delay: float, cause: str, detail: str) -> None:
        self._down_deadline = now + delay
        self._down_delay = delay
        self._down_cause = cause
        self._down_detail = detail

    def _start(self, now: float, reason: str, detail: str) -> list[Action]:
        """INIT, STOP or FAULT → the state keepalived starts in."""
        self._master_int_cs = self.params.advert_int_cs
        if self.params.priority == OWNER and self.params.initial_state == "MASTER" and not self._drained:
            if self._sync_gate:
                return self._become_master(now, reason, f"{detail}address owner (priority 255), state MASTER")
            out = self._become_backup(now, reason, f"{detail}address owner held by its sync group "
                                      f"({self._sync_gate_detail or 'gate closed'})", resign=False)
            self._arm_down(now, self.params.advert_int + self.skew_time(), MASTER_DOWN_TIMER,
                           "address owner (priority 255), state MASTER")
            return out
        out = self._become_backup(now, reason, f"{detail}waiting {self.master_down_interval():g} s for a master",
                                  resign=False)
        self._down_detail = "no advert heard since " + ("startup" if reason == STARTUP else "leaving FAULT")
        return out

    def _fault_detail(self) -> tuple[str, str] | None:
        if not self._if_up:
            return INTERFACE, self._if_detail or "interface down"
        if self._track_fault:
            return TRACKER, self._track_detail or "tracker failed"
        if self._config_fault:
            return CONFIG, self._config_detail or "configuration fault"
        if self._sync_fault:
            return SYNC_GROUP, self._sync_fault_detail or "sync group in FAULT"
        return None

    def _enter_fault(self, now: float, reason: str, detail: str) -> list[Action]:
        out: list[Action] = []
        if self._state is State.MASTER:
            if self._if_up:
                out.append(SendAdvert(0, self.params.advert_int))
            out.append(RemoveVips())
            self._master_addr, self._master_prio = None, None
        self._adver_deadline = self._down_deadline = None
        self._preempt_at = None
        out.append(self._transition(now, State.FAULT, reason, detail))
        return out

    def _peer_wins(self, adv: Advert) -> bool:
        mine = self.effective_priority
        if adv.priority != mine:
            return adv.priority > mine
        try:
            return ipaddress.ip_address(adv.src or "") > self._own_ip
        except (ValueError, TypeError):
            return False

    def _may_preempt(self, now: float) -> bool:
        """May a lower-priority master be overthrown (its adverts discarded)?"""
        if not self.params.preempt or self._drained or self._hold:
            return False
        if self.params.preempt_delay > 0:
            if self._preempt_at is None:
                self._preempt_at = now + self.params.preempt_delay
                return False
            return now >= self._preempt_at
        return True

    # ---- event handlers ----------------------------------------------------

    def _on_startup(self, now: float) -> list[Action]:
        if self._state not in (State.INIT, State.STOP):
            return []
        fault = self._fault_detail()
        if fault is not None:
            return [self._transition(now, State.FAULT, STARTUP, fault[1])]
        return self._start(now, STARTUP, "")

    def _on_shutdown(self, now: float) -> list[Action]:
        if self._state is State.STOP:
            return []
        out: list[Action] = []
        if self._state is State.MASTER:
            out += [SendAdvert(0, self.params.advert_int), RemoveVips()]
            self._master_addr, self._master_prio = None, None
        self._adver_deadline = self._down_deadline = None
        self._preempt_at = None
        out.append(self._transition(now, State.STOP, SHUTDOWN, "instance stopped"))
        return out

    def _on_timer(self, now: float) -> list[Action]:
        if self._state is State.MASTER:
            if self._adver_deadline is None or now < self._adver_deadline:
                return []
            step = self.params.advert_int
            nxt = self._adver_deadline + step
            self._adver_deadline = nxt if nxt > now else now + step
            return [self._advert()]
        if self._state is State.BACKUP:
            if self._down_deadline is None or now < self._down_deadline:
                return []
            cause, detail = self._down_cause, self._expiry_detail(now)
            if not self._sync_gate:
                return self._hold_for_group(now, cause, detail)
            return self._become_master(now, cause, detail)
        return []

    def _expiry_detail(self, now: float) -> str:
        if self._down_cause == MASTER_DOWN_TIMER and self._last_advert_at is not None and self._master_addr:
            return f"no advert from {self._master_addr} for {now - self._last_advert_at:.3f} s"
        return self._down_detail or "master down timer expired"

    def _hold_for_group(self, now: float, cause: str, detail: str) -> list[Action]:
        """keepalived's vrrp_sync_can_goto_master said no: stay BACKUP wanting MASTER
        and look again one Master_Down_Interval later."""
        first = not self._wants_master
        self._wants_master = True
        self._arm_down(now, self.master_down_interval(), cause, "" if cause == MASTER_DOWN_TIMER else detail)
        if not first:
            return []
        return [SyncHeld(cause, f"{detail}; {self._sync_gate_detail or 'sync group gate closed'}", now)]

    def _on_advert(self, now: float, adv: Advert) -> list[Action]:
        if adv.src == self.params.primary_address or self._state in (State.INIT, State.STOP):
            return []
        self._last_advert_at = now
        if self._state is State.FAULT:
            self._master_addr, self._master_prio = adv.src, adv.priority
            return []
        if self._state is State.BACKUP:
            return self._backup_rx(now, adv)
        return self._master_rx(now, adv)

    def _backup_rx(self, now: float, adv: Advert) -> list[Action]:
        self._master_addr, self._master_prio = adv.src, adv.priority
        if adv.priority == 0:
            self._arm_down(now, self.skew_time(), PRIORITY_ZERO_RECEIVED,
                           f"master {adv.src} resigned (priority 0)")
            return []
        took = self._takeover_rx(now, adv.src, adv.priority)
        if took is not None:
            return took
        mine = self.effective_priority
        if adv.priority >= mine:
            self._preempt_at = None
            delay = self._accept_master(now, adv)
            if not self._takeover and not self._hold:
                self._steady, self._steady_delay = adv, delay
        elif self._may_preempt(now):
            # Discard: the timer keeps running and expires into MASTER.
            self._down_cause = PREEMPT
            self._down_detail = f"master {adv.src} prio {adv.priority} < {mine}"
        else:
            self._accept_master(now, adv)
        return []

    def _accept_master(self, now: float, adv: Advert) -> float:
        self._wants_master = False      # keepalived: "now we have received a backup, we want BACKUP"
        if self.params.version == 3:
            self._master_int_cs = adv.interval_cs
        delay = self.master_down_interval()
        self._arm_down(now, delay, MASTER_DOWN_TIMER, "")
        return delay

    def _master_rx(self, now: float, adv: Advert) -> list[Action]:
        mine = self.effective_priority
        if adv.priority == 0:
            self._adver_deadline = now + self.params.advert_int
            return [self._advert()]
        if adv.priority >= mine and self._takeover_prio is None and self._takeover_raise(adv.priority):
            mine = self.effective_priority      # the master a pending takeover waited for: stay above it
        if self._peer_wins(adv) or self._drained:
            out: list[Action] = []
            if self.params.higher_prio_send_advert and self._peer_wins(adv):
                out.append(self._advert())      # the winner hears a lower master: it re-announces
            if adv.priority > mine:
                reason, detail = HIGHER_PRIORITY_SEEN, f"advert from {adv.src} prio {adv.priority} > {mine}"
            elif adv.priority == mine and self._peer_wins(adv):
                reason = HIGHER_PRIORITY_SEEN
                detail = f"advert from {adv.src} prio {adv.priority} == {mine}, higher address wins"
            else:
                reason, detail = OPERATOR, f"drained: yielding to {adv.src} prio {adv.priority}"
            out += self._become_backup(now, reason, detail, resign=False, master=adv.src)
            self._master_addr, self._master_prio = adv.src, adv.priority
            self._accept_master(now, adv)
            return out
        # A lower-priority router thinks it is master: re-assert at once (unless
        # lower_prio_no_advert), then re-announce the VIPs (hosts may have learnt its MAC meanwhile).
        if self.params.lower_prio_no_advert:
            return [LowerPriorityMaster(adv.src, adv.priority)]
        self._adver_deadline = now + self.params.advert_int
        return [self._advert(), LowerPriorityMaster(adv.src, adv.priority)]

    def _on_track(self, now: float, ev: TrackChanged) -> list[Action]:
        was_own = self.own_fault
        self._delta = ev.delta
        self._track_fault = ev.fault
        self._track_detail = ev.detail
        if self.own_fault:
            self._own_fault_cleared = None
        if ev.fault and self._state in (State.MASTER, State.BACKUP):
            return self._enter_fault(now, TRACKER, ev.detail or "tracker failed")
        if self._state is State.FAULT and not self.own_fault:
            if self._fault_detail() is None:
                return self._start(now, TRACKER, f"{ev.detail}; " if ev.detail else "")
            if was_own:
                self._own_fault_cleared = (TRACKER, ev.detail or "trackers recovered")
        return []

    def _on_interface(self, now: float, ev: InterfaceChanged) -> list[Action]:
        was_own = self.own_fault
        self._if_up = ev.up
        self._if_detail = ev.detail
        if self.own_fault:
            self._own_fault_cleared = None
        if not ev.up and self._state in (State.MASTER, State.BACKUP):
            return self._enter_fault(now, INTERFACE, ev.detail or "interface down")
        if ev.up and self._state is State.FAULT and not self.own_fault:
            if self._fault_detail() is None:
                return self._start(now, INTERFACE, f"{ev.detail}; " if ev.detail else "")
            if was_own:
                self._own_fault_cleared = (INTERFACE, ev.detail or "interface up")
        return []

    def _on_config(self, now: float, ev: ConfigFault) -> list[Action]:
        was_own = self.own_fault
        self._config_fault, self._config_detail = ev.on, ev.detail
        if self.own_fault:
            self._own_fault_cleared = None
        if ev.on and self._state in (State.MASTER, State.BACKUP):
            return self._enter_fault(now, CONFIG, ev.detail or "configuration fault")
        if not ev.on and self._state is State.FAULT and not self.own_fault:
            if self._fault_detail() is None:
                return self._start(now, CONFIG, f"{ev.detail}; " if ev.detail else "")
            if was_own:
                self._own_fault_cleared = (CONFIG, ev.detail or "configuration fault cleared")
        return []

    def _on_drain(self, now: float, on: bool) -> list[Action]:
        if on == self._drained:
            return []
        self._drained = on
        if on:
            self._takeover, self._takeover_prio = False, None
            if self._state is State.MASTER:
                return self._become_backup(now, OPERATOR, "drained: resigning", resign=True)
        return []

    def _on_resign(self, now: float, hold_until: float | None) -> list[Action]:
        self._takeover, self._takeover_prio = False, None
        if hold_until is not None and hold_until <= now:
            self._hold, self._hold_until = False, None
        else:
            self._hold, self._hold_until = True, hold_until
        if self._state is not State.MASTER:
            return []
        until = "until cleared" if hold_until is None else f"for {hold_until - now:g} s"
        return self._become_backup(now, OPERATOR, f"resigned; preemption held {until}", resign=True)

    def _on_takeover(self, now: float, on: bool) -> list[Action]:
        if not on:
            self._takeover, self._takeover_prio = False, None
            return []
        if self._drained:
            return []
        self._takeover, self._takeover_prio = True, None      # a (repeated) takeover raises afresh
        self._hold, self._hold_until = False, None
        if self._state is State.MASTER:
            self._takeover_prio = self.effective_priority
            return []
        mp = self._master_prio
        if self._state is not State.BACKUP or not mp or self._master_addr is None:
            # Pending: no live master known yet (e.g. just restarted with the takeover
            # persisted); the first advert heard raises us above it (_takeover_rx).
            return []
        return self._takeover_rx(now, self._master_addr, mp) or []

    def _takeover_raise(self, prio: int) -> bool:
        """With a takeover on: the first master heard (at ``prio``) sets our priority
        floor to ``prio`` + 1 (at most 254).  True if a takeover is on."""
        if not self._takeover or self._drained or prio <= 0:
            return False
        if self._takeover_prio is None:
            self._takeover_prio = min(254, prio + 1)
        return True

    def _takeover_rx(self, now: float, src: str, prio: int) -> list[Action] | None:
        """A BACKUP with a takeover on sees master ``src`` at ``prio``: become master
        at once if the raised priority beats it (None: it does not, or no takeover).

        The request itself (or the first master a pending one hears) overrides the
        sync group's gate, like the operator's request it is: the control API gives
        it to every member, so the group goes MASTER as one.  Later, a member the
        group took down again waits for the gate like a timer expiry does (it wants
        MASTER): otherwise a member that cannot hold MASTER against its peer would
        make the group flap up and down at every one of the other's adverts."""
        first = self._takeover_prio is None
        if not self._takeover_raise(prio):
            return None
        mine = self.effective_priority
        try:
            tie_won = mine == prio and self._own_ip > ipaddress.ip_address(src)
        except (ValueError, TypeError):
            tie_won = False
        if not (mine > prio or tie_won):
            return None
        detail = f"takeover: priority {mine} > {prio} of {src}"
        if first or self._sync_gate:
            return self._become_master(now, OPERATOR, detail)
        return self._hold_for_group(now, OPERATOR, detail)

    # ---- sync group ----------------------------------------------------------

    def _on_sync_gate(self, now: float, ev: SyncGate) -> list[Action]:
        self._sync_gate, self._sync_gate_detail = ev.open, ev.detail
        if ev.open and self._wants_master and self._state is State.BACKUP:
            # the wish we were held on is granted: the timer already expired
            return self._become_master(now, self._down_cause, self._expiry_detail(now))
        return []

    def _on_sync_fault(self, now: float, ev: SyncFault) -> list[Action]:
        if ev.on:
            self._sync_fault, self._sync_fault_detail = True, ev.detail or "sync group in FAULT"
            if self.own_fault:
                self._own_fault_cleared = None
            if self._state in (State.MASTER, State.BACKUP):
                return self._enter_fault(now, SYNC_GROUP, self._sync_fault_detail)
            return []
        if not self._sync_fault:
            return []
        self._sync_fault, self._sync_fault_detail = False, ""
        cleared, self._own_fault_cleared = self._own_fault_cleared, None
        if self._state is not State.FAULT or self._fault_detail() is not None:
            return []
        reason, detail = cleared or (SYNC_GROUP, ev.detail or "sync group left FAULT")
        return self._start(now, reason, f"{detail}; ")
