"""Prometheus metrics of a running engine (``vipdeck daemon --metrics ADDR:PORT``).

VRRP metrics carry mehdy/keepalived-exporter's names, labels and types
(``keepalived_vrrp_state{iname,intf,vrid,ip_address}`` with INIT 0, BACKUP 1,
MASTER 2, FAULT 3, STOP 98 as keepalived numbers them, the
``keepalived_*_total`` counters with ``iname,intf,vrid``), so dashboards and
alerts written for a keepalived node keep working on a vipdeck one.
vipdeck's own metrics are under ``vipdeck_``.  ``CATALOGUE`` lists every
metric this module can export, and what keepalived-exporter has that we do
not (``NOT_EXPORTED``): a metric without a source here is left out rather
than exported as a fake zero.  docs/metrics.md is generated from both.

Thread safety.  prometheus_client serves ``/metrics`` from its own thread,
while the engine lives on the asyncio loop and is not thread-safe.  At each
scrape the HTTP thread asks the loop (``call_soon_threadsafe``) for a
snapshot and a copy of the counters kept here; the snapshot is made of
containers built for that call, which the loop never touches again, so the
thread then turns both into metric families and text on its own.  The loop
pays what one ``vipdeck status`` pays, and no more: building the families
for 255 instances costs tens of milliseconds (benchmarks/metrics_scrape.py),
which must not stall adverts.  The thread waits at most ``SCRAPE_TIMEOUT``
and then answers ``keepalived_up 0`` alone, so a stalled engine is visible
and a scrape never blocks the loop.  Transitions to and from MASTER and
priority-0 adverts come from the engine's own counters (``vrrp_stats``, the
same as keepalived's stats dump), advert intervals and reload results are
counted here from the engine's ``advert_heard`` hook and events; all of it
is updated and copied on the loop: nothing here needs a lock.

Secrets: labels and values come from names, addresses, states and counts;
no field that can hold a password (``auth_pass``, SMTP credentials,
tracker/checker detail texts) is ever read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from vipdeck.engine.control.schema import Snapshot
from vipdeck.engine.dumps.stats import REJECT_COUNTERS

log = logging.getLogger("vipdeck.metrics")

SCRAPE_TIMEOUT = 5.0

# keepalived's numbers for its states (vrrp.h), as keepalived-exporter reports them
KEEPALIVED_STATE = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 98}

# keepalived's stats names (engine/dumps/stats.py, the one mapping from our reject reasons,
# engine/vrrp/packet.py) -> keepalived-exporter's metric names
EXPORTER_NAMES = {
    "packet_len_err": "keepalived_packet_length_errors_total",
    "advert_interval_err": "keepalived_advertisements_interval_errors_total",
    "ip_ttl_err": "keepalived_ip_ttl_errors_total",
    "invalid_type_rcvd": "keepalived_invalid_type_received_total",
    "addr_list_err": "keepalived_address_list_errors_total",
    "invalid_authtype": "keepalived_authentication_invalid_total",
    "authtype_mismatch": "keepalived_authentication_mismatch_total",
    "auth_failure": "keepalived_authentication_failure_total",
}
KEEPALIVED_ERRORS: dict[str, tuple[str, ...]] = {
    metric: tuple(r for r, stat in REJECT_COUNTERS.items() if stat == name) for name, metric in EXPORTER_NAMES.items()}

RS_STATES = ("UP", "DOWN", "DRAINING", "DRAINED")
TRACKER_STATES = ("ok", "failed", "fault", "init", "ignored")

# seconds; the interval between two adverts of the same router minus its advertised interval
INTERVAL_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

VRRP = ("iname", "intf", "vrid")
VS = ("vs", "protocol")
RS = ("vs", "protocol", "rs")


@dataclass(frozen=True)
class Spec:
    name: str            # as it appears in the text, counters with _total
    kind: str            # gauge | counter | histogram
    labels: tuple[str, ...]
    help: str


def _s(name: str, kind: str, labels: tuple[str, ...], help_: str) -> Spec:
    return Spec(name, kind, labels, help_)


CATALOGUE: tuple[Spec, ...] = (
    # ---- keepalived-exporter's names, labels and types
    _s("keepalived_up", "gauge", (), "1 when the engine answered this scrape, 0 when it did not in time"),
    _s("keepalived_vrrp_state", "gauge", ("iname", "intf", "vrid", "ip_address"),
       "Instance state per VIP (INIT 0, BACKUP 1, MASTER 2, FAULT 3, STOP 98); "
       "ip_address \"\" and intf the instance's interface when it has no VIP"),
    _s("keepalived_vrrp_excluded_state", "gauge", ("iname", "intf", "vrid", "ip_address"),
       "Instance state per virtual_ipaddress_excluded address"),
    _s("keepalived_advertisements_received_total", "counter", VRRP, "Adverts received and accepted"),
    _s("keepalived_advertisements_sent_total", "counter", VRRP, "Adverts sent"),
    _s("keepalived_become_master_total", "counter", VRRP, "Transitions to MASTER since the daemon started"),
    _s("keepalived_release_master_total", "counter", VRRP, "Transitions out of MASTER since the daemon started"),
    *(_s(n, "counter", VRRP, f"Adverts dropped for: {', '.join(r)}") for n, r in KEEPALIVED_ERRORS.items()),
    _s("keepalived_priority_zero_received_total", "counter", VRRP,
       "Accepted adverts with priority 0 (a master resigning)"),
    _s("keepalived_priority_zero_sent_total", "counter", VRRP,
       "Priority-0 adverts sent (this master stopping or resigning)"),
    _s("keepalived_script_status", "gauge", ("name",), "vrrp_script result: GOOD 1, BAD 0 (no series before the first result)"),
    # ---- vipdeck: the node
    _s("vipdeck_build_info", "gauge", ("version", "python"), "Always 1; the labels say what runs"),
    _s("vipdeck_start_time_seconds", "gauge", (), "When the engine started (unix time)"),
    _s("vipdeck_config_last_reload_successful", "gauge", (), "1 when the last reload was accepted (or none happened)"),
    _s("vipdeck_config_last_reload_success_timestamp_seconds", "gauge", (),
       "When the running configuration was loaded (start or accepted reload)"),
    _s("vipdeck_operator_drained", "gauge", (), "1 while the node is drained (vipdeck drain)"),
    _s("vipdeck_ipvs_available", "gauge", (), "1 when kernel IPVS answered"),
    # ---- vipdeck: instances
    _s("vipdeck_vrrp_base_priority", "gauge", VRRP, "Configured priority"),
    _s("vipdeck_vrrp_effective_priority", "gauge", VRRP, "Priority in effect (trackers, operator)"),
    _s("vipdeck_vrrp_tracker_contribution", "gauge", (*VRRP, "tracker", "kind"),
       "Priority change a tracker contributes now"),
    _s("vipdeck_vrrp_tracker_state", "gauge", (*VRRP, "tracker", "kind", "state"),
       f"1 for the tracker's current state ({', '.join(TRACKER_STATES)}), 0 for the others"),
    _s("vipdeck_vrrp_transitions_total", "counter", VRRP, "State transitions"),
    _s("vipdeck_vrrp_rejects_total", "counter", (*VRRP, "reason"),
       "Adverts dropped, per reject reason (every reason, not only keepalived's)"),
    _s("vipdeck_vrrp_vip_present", "gauge", ("iname", "intf", "vrid", "ip_address"),
       "1 when the VIP is on the interface (as this daemon last set it)"),
    _s("vipdeck_vrrp_master_priority", "gauge", VRRP, "Priority of the master heard (absent when none)"),
    _s("vipdeck_vrrp_master_advert_age_seconds", "gauge", VRRP, "Seconds since the master's last advert"),
    _s("vipdeck_vrrp_last_transition_timestamp_seconds", "gauge", VRRP, "When the last transition happened"),
    _s("vipdeck_vrrp_operator_hold", "gauge", VRRP, "1 while a failover hold keeps the instance from preempting"),
    _s("vipdeck_vrrp_operator_takeover", "gauge", VRRP, "1 while an operator takeover raises the priority"),
    _s("vipdeck_vrrp_advert_interval_error_seconds", "histogram", VRRP,
       "|time between two adverts of the same router - its advertised interval|, as heard here"),
    # ---- vipdeck: what is heard per VRID (also VRIDs of other routers)
    _s("vipdeck_vrid_split_brain", "gauge", ("intf", "vrid"), "1 while two routers advertise as master"),
    _s("vipdeck_vrid_anomaly", "gauge", ("intf", "vrid", "kind"),
       "1 for each anomaly flagged now (split_brain, auth_mismatch, interval_mismatch, vip_mismatch, ttl, "
       "bad_checksum, master_silent)"),
    _s("vipdeck_vrid_source_priority", "gauge", ("intf", "vrid", "source"), "Last priority heard from a router"),
    _s("vipdeck_vrid_source_adverts_total", "counter", ("intf", "vrid", "source"), "Adverts heard from a router"),
    # ---- vipdeck: virtual and real servers
    _s("vipdeck_virtual_server_quorum_up", "gauge", VS, "1 while the live real servers' weights reach the quorum"),
    _s("vipdeck_virtual_server_sorry_active", "gauge", VS, "1 while the sorry server is in use"),
    _s("vipdeck_virtual_server_in_kernel", "gauge", VS, "1 when the service is in kernel IPVS"),
    _s("vipdeck_real_server_state", "gauge", (*RS, "state"),
       f"1 for the real server's state ({', '.join(RS_STATES)}), 0 for the others"),
    _s("vipdeck_real_server_weight_configured", "gauge", RS, "Weight in the configuration"),
    _s("vipdeck_real_server_weight_effective", "gauge", RS, "Weight wanted now (checkers, operator override, drain)"),
    _s("vipdeck_real_server_weight_kernel", "gauge", RS, "Weight in kernel IPVS"),
    _s("vipdeck_real_server_weight_override", "gauge", RS, "1 while an operator weight override is set"),
    _s("vipdeck_real_server_checker_up", "gauge", (*RS, "checker"), "Last result of each checker: 1 ok, 0 failed"),
    _s("vipdeck_real_server_checker_latency_seconds", "gauge", (*RS, "checker"), "Duration of the last check"),
    _s("vipdeck_real_server_checker_consecutive_failures", "gauge", (*RS, "checker"), "Failed runs in a row"),
    _s("vipdeck_real_server_checks_total", "counter", (*RS, "checker"), "Checks run"),
    _s("vipdeck_real_server_check_failures_total", "counter", (*RS, "checker"), "Checks failed"),
    _s("vipdeck_real_server_active_connections", "gauge", RS, "Active connections (kernel IPVS)"),
    _s("vipdeck_real_server_inactive_connections", "gauge", RS, "Inactive connections (kernel IPVS)"),
    _s("vipdeck_real_server_connections_total", "counter", RS, "Connections scheduled to it (kernel IPVS)"),
    _s("vipdeck_real_server_incoming_packets_total", "counter", RS, "Packets in (kernel IPVS)"),
    _s("vipdeck_real_server_outgoing_packets_total", "counter", RS, "Packets out (kernel IPVS)"),
    _s("vipdeck_real_server_incoming_bytes_total", "counter", RS, "Bytes in (kernel IPVS)"),
    _s("vipdeck_real_server_outgoing_bytes_total", "counter", RS, "Bytes out (kernel IPVS)"),
)

SPECS = {s.name: s for s in CATALOGUE}

# keepalived-exporter metrics that have no source in vipdeck: not exported (why)
NOT_EXPORTED: dict[str, str] = {
    "keepalived_gratuitous_arp_delay_total":
        "keepalived-exporter exports the configured garp_master_delay under this name; "
        "it is configuration, not a counter (see `vipdeck check --json`)",
    "keepalived_script_state":
        "keepalived's script process state (idle, running, ...); vipdeck runs scripts differently "
        "and reports results only (keepalived_script_status, vipdeck_vrrp_tracker_state)",
    "keepalived_exporter_check_script_status":
        "the exporter's own -cs check script, run per VIP, not keepalived's; use the checkers",
}

# (kernel field in the snapshot's real server, metric)
_KERNEL_COUNTERS = (("conns", "vipdeck_real_server_connections_total"),
                    ("inpkts", "vipdeck_real_server_incoming_packets_total"),
                    ("outpkts", "vipdeck_real_server_outgoing_packets_total"),
                    ("inbytes", "vipdeck_real_server_incoming_bytes_total"),
                    ("outbytes", "vipdeck_real_server_outgoing_bytes_total"))


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` or ``[V6ADDR]:PORT`` -> (addr, port); ValueError names the problem."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r}: expected ADDR:PORT, e.g. 127.0.0.1:9650")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:9650")
    if not host:
        raise ValueError(f"{text!r}: give the address to listen on, e.g. 127.0.0.1:{port or 9650} "
                         "(0.0.0.0 for every IPv4 address)")
    try:
        n = int(port)
    except ValueError:
        raise ValueError(f"{text!r}: port {port!r} is not a number") from None
    if not 0 < n < 65536:
        raise ValueError(f"{text!r}: port {n} is out of range 1-65535")
    return host, n


def vip_label(address: str) -> str:
    """keepalived prints a VIP without its prefix length when it is a host address."""
    addr, _, plen = address.partition("/")
    if plen and plen == ("128" if ":" in addr else "32"):
        return addr
    return address


class _Histogram:
    """Bucket counts kept and read on the loop (no lock: one thread)."""

    __slots__ = ("counts", "sum", "count")

    def __init__(self) -> None:
        self.counts = [0] * len(INTERVAL_BUCKETS)
        self.sum = 0.0
        self.count = 0

    def observe(self, v: float) -> None:
        for i, bound in enumerate(INTERVAL_BUCKETS):
            if v <= bound:
                self.counts[i] += 1
                break
        self.sum += v
        self.count += 1

    def copy(self) -> "_Histogram":
        h = _Histogram()
        h.counts, h.sum, h.count = list(self.counts), self.sum, self.count
        return h

    def buckets(self) -> list[tuple[str, float]]:
        out, acc = [], 0
        for bound, n in zip(INTERVAL_BUCKETS, self.counts):
            acc += n
            out.append((repr(bound), acc))
        out.append(("+Inf", self.count))
        return out


@dataclass(frozen=True)
class Transitions:
    """keepalived's counters the driver lacks, as the engine keeps them for its
    stats dump (``Engine.vrrp_stats``, engine/dumps/stats.py), copied on the loop.
    Never the dump's cleared view: a Prometheus counter does not go back."""

    become_master: int = 0
    release_master: int = 0
    pri_zero_sent: int = 0
    pri_zero_rcvd: int = 0


class EngineCounters:
    """What the snapshot does not carry, per instance name: the engine's
    transition counters (read from ``vrrp_stats``, the engine's own dict),
    advert interval timing and reload results (counted here from the
    engine's hook and events).  Lives on the loop; ``copy`` is for the
    HTTP thread."""

    def __init__(self, started_at: float, vrrp_stats: dict | None = None):
        self.vrrp_stats = {} if vrrp_stats is None else vrrp_stats   # name -> counters with Transitions' fields
        self.intervals: dict[str, _Histogram] = {}
        self._last_heard: dict[tuple[str, str], float] = {}   # (instance, source) -> loop time
        self.reload_ok = True
        self.config_loaded_at = started_at

    def transitions(self, name: str) -> Transitions:
        t = self.vrrp_stats.get(name)
        if t is None:
            return Transitions()
        return Transitions(t.become_master, t.release_master, t.pri_zero_sent, t.pri_zero_rcvd)

    def copy(self) -> "EngineCounters":
        """A copy for another thread (made on the loop)."""
        c = EngineCounters(self.config_loaded_at, {n: self.transitions(n) for n in self.vrrp_stats})
        c.intervals = {k: h.copy() for k, h in self.intervals.items()}
        c.reload_ok = self.reload_ok
        return c

    def on_event(self, ev: dict) -> None:
        if ev.get("kind") == "config" and "accepted" in ev:
            self.reload_ok = bool(ev["accepted"])
            if self.reload_ok:
                self.config_loaded_at = ev.get("time", self.config_loaded_at)

    def on_advert(self, instance: str, source: str, priority: int, interval: float, now: float) -> None:
        """An advert an instance accepted (the engine's ``advert_heard`` hook)."""
        if priority == 0:
            self._last_heard.pop((instance, source), None)   # a resigning master: its next advert starts afresh
            return
        key = (instance, source)
        last = self._last_heard.get(key)
        self._last_heard[key] = now
        if last is None or interval <= 0:
            return
        gap = now - last
        if gap > 4 * interval:   # it stopped advertising meanwhile (it was not master): not a timing sample
            return
        h = self.intervals.get(instance)
        if h is None:
            h = self.intervals[instance] = _Histogram()
        h.observe(abs(gap - interval))


def families(snap: Snapshot, counters: EngineCounters | None = None) -> list:
    """The metric families for one snapshot (the control schema's shape)."""
    # imported here, not at the top: prometheus_client is only paid for with --metrics
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    fams: dict[str, Any] = {}

    def fam(name: str):
        f = fams.get(name)
        if f is None:
            s = SPECS[name]
            if s.kind == "counter":
                f = CounterMetricFamily(name, s.help, labels=s.labels)
            elif s.kind == "histogram":
                f = HistogramMetricFamily(name, s.help, labels=s.labels)
            else:
                f = GaugeMetricFamily(name, s.help, labels=s.labels)
            fams[name] = f
        return f

    def put(name: str, labels: Iterable[Any], value: Any) -> None:
        if value is None:
            return
        fam(name).add_metric([str(x) for x in labels], float(value))

    c = counters or EngineCounters(snap.get("node", {}).get("started_at") or 0.0)
    node = snap.get("node", {})
    put("keepalived_up", (), 1)
    put("vipdeck_build_info", (node.get("version", "0"), sys.version.split()[0]), 1)
    put("vipdeck_start_time_seconds", (), node.get("started_at"))
    put("vipdeck_config_last_reload_successful", (), 1 if c.reload_ok else 0)
    put("vipdeck_config_last_reload_success_timestamp_seconds", (), c.config_loaded_at)
    put("vipdeck_operator_drained", (), 1 if (snap.get("operator") or {}).get("drained") else 0)
    put("vipdeck_ipvs_available", (), 1 if (snap.get("ipvs") or {}).get("available") else 0)

    scripts: dict[str, int] = {}
    for i in snap.get("instances", []):
        lab = (i["name"], i["interface"], i["vrid"])
        state = KEEPALIVED_STATE.get(i["state"])
        held = [v for v in i.get("vips", []) if not v.get("excluded")]
        excluded = [v for v in i.get("vips", []) if v.get("excluded")]
        for v in held:
            put("keepalived_vrrp_state", (i["name"], v.get("dev") or i["interface"], i["vrid"],
                                          vip_label(v["address"])), state)
        if not held:
            put("keepalived_vrrp_state", (*lab, ""), state)
        for v in excluded:
            put("keepalived_vrrp_excluded_state", (i["name"], v.get("dev") or i["interface"], i["vrid"],
                                                   vip_label(v["address"])), state)
        for v in i.get("vips", []):
            put("vipdeck_vrrp_vip_present", (i["name"], v.get("dev") or i["interface"], i["vrid"],
                                             vip_label(v["address"])), 1 if v.get("present") else 0)
        cnt = i.get("counters", {})
        rejects = cnt.get("rejects", {})
        put("keepalived_advertisements_received_total", lab, cnt.get("adverts_received", 0))
        put("keepalived_advertisements_sent_total", lab, cnt.get("adverts_sent", 0))
        tr = c.transitions(i["name"])
        put("keepalived_become_master_total", lab, tr.become_master)
        put("keepalived_release_master_total", lab, tr.release_master)
        for name, reasons in KEEPALIVED_ERRORS.items():
            put(name, lab, sum(rejects.get(r, 0) for r in reasons))
        put("keepalived_priority_zero_received_total", lab, tr.pri_zero_rcvd)
        put("keepalived_priority_zero_sent_total", lab, tr.pri_zero_sent)
        put("vipdeck_vrrp_transitions_total", lab, cnt.get("transitions", 0))
        for reason, n in sorted(rejects.items()):
            put("vipdeck_vrrp_rejects_total", (*lab, reason), n)
        put("vipdeck_vrrp_base_priority", lab, i.get("base_priority"))
        put("vipdeck_vrrp_effective_priority", lab, i.get("effective_priority"))
        for t in i.get("trackers", []):
            tl = (*lab, t["name"], t.get("kind", ""))
            put("vipdeck_vrrp_tracker_contribution", tl, t.get("contribution", 0))
            for s in TRACKER_STATES:
                put("vipdeck_vrrp_tracker_state", (*tl, s), 1 if t.get("state") == s else 0)
            if t.get("kind") == "script" and t.get("state") in ("ok", "failed", "fault"):
                good = 1 if t["state"] == "ok" else 0
                scripts[t["name"]] = min(scripts.get(t["name"], good), good)
        m = i.get("master") or {}
        if m.get("address"):
            put("vipdeck_vrrp_master_priority", lab, m.get("priority"))
            put("vipdeck_vrrp_master_advert_age_seconds", lab, m.get("last_advert_age"))
        lt = i.get("last_transition") or {}
        put("vipdeck_vrrp_last_transition_timestamp_seconds", lab, lt.get("time"))
        op = i.get("operator") or {}
        put("vipdeck_vrrp_operator_hold", lab, 1 if (op.get("held") or op.get("hold_until")) else 0)
        put("vipdeck_vrrp_operator_takeover", lab, 1 if op.get("takeover") else 0)
        h = c.intervals.get(i["name"])
        if h is not None:
            fam("vipdeck_vrrp_advert_interval_error_seconds").add_metric([str(x) for x in lab], h.buckets(), h.sum)
    for name, good in sorted(scripts.items()):
        put("keepalived_script_status", (name,), good)

    for a in snap.get("adverts", []):
        al = (a.get("interface", ""), a["vrid"])
        kinds = sorted({f["kind"] for f in a.get("flags", [])})
        put("vipdeck_vrid_split_brain", al, 1 if "split_brain" in kinds else 0)
        for k in kinds:
            put("vipdeck_vrid_anomaly", (*al, k), 1)
        for s in a.get("sources", []):
            put("vipdeck_vrid_source_priority", (*al, s["address"]), s.get("priority"))
            put("vipdeck_vrid_source_adverts_total", (*al, s["address"]), s.get("count", 0))

    for vs in snap.get("virtual_servers", []):
        vl = (vs["key"], vs.get("protocol") or "")
        put("vipdeck_virtual_server_quorum_up", vl, 1 if vs.get("quorum_ok") else 0)
        put("vipdeck_virtual_server_sorry_active", vl, 1 if vs.get("sorry_active") else 0)
        put("vipdeck_virtual_server_in_kernel", vl, 1 if vs.get("in_kernel") else 0)
        for r in vs.get("real_servers", []):
            rl = (*vl, r["key"])
            for s in RS_STATES:
                put("vipdeck_real_server_state", (*rl, s), 1 if r.get("state") == s else 0)
            put("vipdeck_real_server_weight_configured", rl, r.get("weight_config"))
            put("vipdeck_real_server_weight_effective", rl, r.get("weight_effective"))
            put("vipdeck_real_server_weight_kernel", rl, r.get("weight_kernel"))
            put("vipdeck_real_server_weight_override", rl, 1 if r.get("override") else 0)
            put("vipdeck_real_server_active_connections", rl, r.get("active_conn"))
            put("vipdeck_real_server_inactive_connections", rl, r.get("inactive_conn"))
            for field, name in _KERNEL_COUNTERS:
                put(name, rl, r.get(field))
            for ch in r.get("checkers", []):
                cl = (*rl, ch.get("label") or ch.get("kind") or "?")   # HTTP_GET, or HTTP_GET#2 of two
                if ch.get("ok") is not None:
                    put("vipdeck_real_server_checker_up", cl, 1 if ch["ok"] else 0)
                put("vipdeck_real_server_checker_latency_seconds", cl, ch.get("latency"))
                put("vipdeck_real_server_checker_consecutive_failures", cl, ch.get("failures"))
                put("vipdeck_real_server_checks_total", cl, ch.get("runs"))
                put("vipdeck_real_server_check_failures_total", cl, ch.get("total_failures"))
    return list(fams.values())


class EngineCollector:
    """A prometheus_client collector over an engine on another thread's loop.

    ``snapshot`` and ``counters`` are only ever used on ``loop``."""

    def __init__(self, snapshot: Callable[[], Snapshot] | None, counters: "EngineCounters | None",
                 loop: asyncio.AbstractEventLoop,
                 timeout: float = SCRAPE_TIMEOUT):
        self.snapshot = snapshot
        self.counters = counters
        self.loop = loop
        self.timeout = timeout

    def describe(self):
        return []       # no fixed set: series come and go with the configuration

    def _on_loop(self, fut: concurrent.futures.Future) -> None:
        if not fut.set_running_or_notify_cancel():
            return      # the scrape gave up meanwhile
        if self.snapshot is None:
            fut.set_exception(RuntimeError("the engine is not running yet"))
            return
        try:
            fut.set_result((self.snapshot(), self.counters.copy()))
        except BaseException as exc:
            fut.set_exception(exc)

    def collect(self):
        fut: concurrent.futures.Future = concurrent.futures.Future()
        try:
            self.loop.call_soon_threadsafe(self._on_loop, fut)
            snap, counters = fut.result(timeout=self.timeout)
            result = families(snap, counters)          # here, on the HTTP thread
        except Exception as exc:
            fut.cancel()
            log.warning("metrics scrape: the engine did not answer: %s",
                        "timed out" if isinstance(exc, concurrent.futures.TimeoutError) else repr(exc))
            from prometheus_client.core import GaugeMetricFamily

            yield GaugeMetricFamily("keepalived_up", SPECS["keepalived_up"].help, value=0)
            return
        yield from result


class MetricsServer:
    """``/metrics`` over HTTP for one engine: prometheus_client's server thread,
    its process/platform/GC collectors, and ours.  ``start`` takes the port
    (before the engine exists, so a port in use stops the daemon before it
    touches anything); ``attach`` hands it the engine; until then a scrape
    says ``keepalived_up 0``."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        from prometheus_client import CollectorRegistry
        from prometheus_client import gc_collector, platform_collector, process_collector

        self.loop = loop or asyncio.get_running_loop()
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self.collector = EngineCollector(None, None, self.loop)
        self.registry.register(self.collector)
        self._httpd = None
        self.address: tuple[str, int] | None = None

    def attach(self, engine) -> None:
        """Count the engine's events and heard adverts from now on (call it on the loop,
        before the engine starts, so its first transitions count)."""
        counters = EngineCounters(engine.started_at, engine.vrrp_stats)
        engine.bus.add_listener(counters.on_event)
        engine.advert_heard = counters.on_advert
        self.collector.counters = counters
        self.collector.snapshot = engine.snapshot

    def start(self, addr: str, port: int) -> tuple[str, int]:
        """Listen now (an address in use is an OSError here, before anything else starts)."""
        from prometheus_client import start_http_server

        self._httpd, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self.address = self._httpd.server_address[:2]
        return self.address

    @property
    def url(self) -> str:
        host, port = self.address or ("?", 0)
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    async def stop(self) -> None:
        if self._httpd is None:
            return
        httpd, self._httpd = self._httpd, None
        # shutdown() waits for serve_forever's poll: do not hold the loop meanwhile
        await asyncio.get_running_loop().run_in_executor(None, httpd.shutdown)
        httpd.server_close()

    def close(self) -> None:
        """Stop at once, off the loop's critical path (start-up failed)."""
        if self._httpd is not None:
            httpd, self._httpd = self._httpd, None
            httpd.shutdown()
            httpd.server_close()
