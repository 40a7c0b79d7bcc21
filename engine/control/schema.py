"""The control API: what a snapshot and an event look like, and the requests.

Everything that leaves the engine (``vipdeck status``, ``vipdeck events``,
the console, the audit trail) is one of these plain JSON-able dicts.  The
console is written against this file only, whether it talks to an embedded
engine or to a daemon's Unix socket, so the schema is the boundary: add
fields freely, never rename or repurpose one.

Wire protocol (Unix stream socket, one JSON object per line, UTF-8)::

    -> {"id": 1, "op": "snapshot"}
    <- {"id": 1, "ok": true, "result": SNAPSHOT}
    -> {"id": 2, "op": "events", "since": 0, "follow": true}
    <- {"id": 2, "ok": true, "result": {"events": [EVENT...], "last": SEQ}}
    <- {"event": EVENT}            (then one line per new event while following)
    -> {"id": 3, "op": "drain", "reason": "kernel upgrade"}
    <- {"id": 3, "ok": false, "error": {"code": "forbidden", "message": "..."}}

Error codes: ``bad_request`` (names the field; also input that is not
UTF-8 JSON), ``unknown_op``, ``forbidden`` (not root for a change),
``not_found`` (instance / server), ``conflict`` (e.g. failover on a
backup), ``unavailable`` (e.g. IPVS), ``storage`` (the change could not be
saved: the message names the state file and the reason, e.g. "No space left
on device"; nothing was changed), ``timeout`` (no complete request within
the idle timeout; the connection is closed), ``busy`` (too many connections
from this uid; closed), ``internal`` (a bug; audited, the daemon goes on).

SNAPSHOT::

    {
      "schema": 1,
      "node": {"hostname", "router_id", "pid", "version", "config_file",
               "started_at" (unix time), "now" (unix time), "mode": "daemon"|"embedded",
               "interfaces": [{"name", "up", "mac", "addresses": ["198.18.0.1/24"],
                               "vrrp": {"received": int,     # packets its VRRP sockets read
                                        # dropped before any instance or the advert view saw them:
                                        # own_source (one of our addresses), malformed (no sane IP
                                        # header), truncated (shorter than the VRRP header), ip_header,
                                        # auth_unsupported (IPsec AH), addr_family
                                        "dropped": {KIND: count}}}],
               "system": {"load": [1m, 5m, 15m], "cpus", "mem_total", "mem_used",   # optional; bytes.
                          "disk_path", "disk_total", "disk_used"}},   # absent: the console asks psutil
      "instances": [{
          "name", "vrid", "interface", "family": 4|6, "version": 2|3,
          "advert_int", "configured_state", "state": "INIT"|"BACKUP"|"MASTER"|"FAULT"|"STOP",
          "base_priority", "effective_priority",
          "trackers": [{"name", "kind": "script"|"file"|"process"|"interface",
                        "state": "ok"|"failed"|"fault", "contribution": int, "detail"}],
          "vips": [{"address": "198.18.0.100/32", "dev", "label", "present": bool,
                    "last_garp": unix time|None,
                    "excluded": bool}],       # virtual_ipaddress_excluded: held, not advertised
          "master": {"address"|None, "priority"|None, "interval"|None,
                     "last_advert_age": seconds|None,
                     "mac": str|None},       # ours while MASTER, else the MAC the master's adverts
                                             # come from (learnt when it became master; None until then)
          "counters": {"adverts_sent", "adverts_received", "transitions",
                       "rejects": {REASON: count}},
          "last_transition": {"from", "to", "reason", "detail", "time"} | None,
          "wire": {"source": str|None, "mcast_group": str|None,   # None when unicast
                   "unicast_peers": [str],
                   "vmac": {"name", "mac", "xmit_base": bool}|None},   # use_vmac: the VIPs' macvlan
          "sync_group": str|None,
          "preempt": bool, "preempt_delay": float,
          "operator": {"drained": bool, "hold_until": unix time|None, "held": bool,
                       "takeover": bool, "takeover_pending": bool (not master yet:
                       no master heard to take over from), "who", "when", "why",
                       "group": sync group the hold/takeover was given to|None,
                       "scope": [instance names takeover/failover/clear-hold/
                       release of this one act on: its sync group's, or itself]} }],
      "virtual_servers": [{
          "key": "198.18.0.100:80" | "fwmark 5" | "group NAME",
          "services": [{"protocol"|None, "address"|None, "port"|None, "fwmark"|None,
                        "family": 4|6}],     # the kernel services it stands for
          "protocol", "address", "port", "fwmark", "scheduler", "forward": "NAT"|"DR"|"TUN",
          "persistence_timeout", "quorum", "hysteresis", "quorum_ok": bool,
          "sorry_server": "ip:port"|None, "sorry_active": bool,
          "in_kernel": bool,
          "real_servers": [{
              "key": "198.18.1.10:80", "address", "port", "forward",
              "weight_config", "weight_effective", "weight_kernel"|None,
              "override": {"weight", "who", "when", "why"}|None,
              "state": "UP"|"DOWN"|"DRAINING"|"DRAINED",
              "checkers": [{"kind", "ok", "latency", "error", "failures", "last_check"}],
              "active_conn"|None, "inactive_conn"|None,
              "cps"|None, "inpps"|None, "outpps"|None, "inbps"|None, "outbps"|None }] }],
      "ipvs": {"available": bool, "error": str|None},
      "sync_daemon": {"interface", "instance"|None, "syncid",     # lvs_sync_daemon; None when not set
                      "wanted": ["master"|"backup"],                # what the instance's state asks for
                      "kernel": [{"state", "interface", "syncid", "maxlen", "group", "port", "ttl"}],
                      "error": str|None} | None,
      "adverts": [{                        # the advert view: one entry per (interface, family, VRID),
                                           # foreign VRIDs too (FRR's dual-stack VRID is two entries)
          "vrid", "family": 4|6, "interface",
          "master": address|None,          # the highest-priority accepted source advertising now (us too)
          "ours": bool, "instance": name|None,
          "sources": [{"address", "mac"|None, "priority", "interval", "version",   # accepted adverts only
                       "auth_type", "vips": [...], "rate", "last_seen_age", "ttl", "count"}],
          "rejected_sources": [{"address", "mac"|None, "reason": REJECT_REASON, "detail",   # never masters;
                                "priority"|None, "count", "last_seen_age"}],                # at most 64
          "split_brain": {"sources": [a, b], "since": unix time}|None,
          "flags": [{"kind": "split_brain"|"auth_mismatch"|"interval_mismatch"|"version_mismatch"|
                      "vip_mismatch"|"ttl"|"bad_checksum"|"master_silent"|REJECT_REASON,
                     "detail", "source": address|"a+b"|None}],   # None: many sources (rejects)
          "rejected": {REJECT_REASON: count},
          "history": [[unix time, source address, priority], ...] }],   # bounded
      "operator": {"drained": {"who", "when", "why"}|None, "audit_tail": [AUDIT...]},
      "read_only": bool
    }

EVENT::

    {"seq": int, "time": unix time, "kind": KIND, "severity": "info"|"warning"|"error",
     "message": human text, ...kind-specific fields}

KIND is one of ``transition`` (instance, from, to, reason, detail),
``advert`` (anomalies only: vrid, family, interface, source, flag; flag
``split_brain_resolved`` (info) when a split brain ends; vrid None and
flag own_source / truncated / ... for what an interface dropped, once per
interface and kind), ``tracker`` (instance,
tracker, state, contribution), ``notify`` (script, args, exit_status,
duration, error), ``smtp`` (to, subject, ok, error), ``check`` (vs, rs,
checker, ok, latency, error, failures), ``rs_state`` (vs, rs, state),
``ipvs`` (change applied), ``operator`` (action, args, who, result),
``config`` (reload accepted/refused, diagnostics), ``daemon`` (start/stop,
signals, an audit entry that could not be written: ``audit``, ``path``).
Operator refusals are ``operator`` events with ``ok`` false, ``code`` and
``uid``.

Requests (``op``): ``snapshot``, ``events`` (since, follow, limit),
``drain`` (reason), ``undrain``, ``failover`` (instance, hold: seconds|None,
reason), ``clear_hold`` (instance), ``takeover`` (instance, reason),
``release`` (instance: undo takeover), ``weight`` (vs, rs, weight | clear: true,
reason), ``rs_drain`` (vs, rs, reason), ``rs_undrain`` (vs, rs), ``reload``.
Every request may carry ``who`` (a display name; the server records the
peer's uid too).
"""

SCHEMA_VERSION = 1

READ_OPS = frozenset({"snapshot", "events", "ping"})
CHANGE_OPS = frozenset({
    "drain", "undrain", "failover", "clear_hold", "takeover", "release",
    "weight", "rs_drain", "rs_undrain", "reload",
})
ALL_OPS = READ_OPS | CHANGE_OPS

EVENT_KINDS = frozenset({
    "transition", "advert", "tracker", "notify", "smtp", "check", "rs_state",
    "ipvs", "operator", "config", "daemon",
})


class ControlError(Exception):
    """A request refused with a code from the list above; never a crash."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}
