"""SIGJSON's ``keepalived.json`` in keepalived 2.2.7's shape (vrrp_json.c).

A JSON array with one object per VRRP instance: ``{"data": {...},
"stats": {...}}``, keys in keepalived's order.  Numbers are written the way
its json_writer writes them, because typed readers depend on it:
mehdy/keepalived-exporter decodes ``garp_delay`` (a C double printed with
``%g``) into a Go ``int``, which accepts ``5`` and rejects ``5.0``.  So
keepalived's doubles are printed with ``%g`` (``last_transition`` with
``%f``), integers as integers, and Python's ``json`` is used only for
strings.  ``auth_data`` (keepalived writes the password there) is
``"********"``.
"""

from __future__ import annotations

import json
from dataclasses import fields

from vipdeck.engine.config.model import MASK, AuthType, Config, Notify, VrrpInstance
from vipdeck.engine.dumps import data as d
from vipdeck.engine.dumps.facts import Facts, InstanceFacts


class Num:
    """A number already formatted as keepalived prints it."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def g(x: float) -> Num:
    return Num("%g" % x)


def encode(value) -> str:
    if isinstance(value, Num):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {value!r}")


def _script(n: Notify | None) -> str | None:
    return None if n is None else d.cmd_str(n.command)


def instance_data(config: Config, inst: VrrpInstance, f: InstanceFacts) -> dict:
    gd = config.global_defs
    lo_delay, lo_rep = d.garp_lower(inst)
    out: dict = {
        "iname": inst.name,
        "dont_track_primary": int(inst.dont_track_primary),
        "skip_check_adv_addr": int(gd.vrrp_skip_check_adv_addr),
        "strict_mode": int(inst.strict_mode or gd.vrrp_strict),
        "vmac_ifname": inst.vmac.name if inst.vmac else "",
        "ifp_ifname": inst.vmac.name if inst.vmac else inst.interface,    # keepalived's ifp is the VMAC
        "master_priority": f.master_priority,
        "last_transition": Num(d.tstamp(f.last_transition)),
        "garp_delay": g(inst.garp_master_delay),
        "garp_refresh": int(inst.garp_master_refresh),
        "garp_rep": inst.garp_master_repeat,
        "garp_refresh_rep": inst.garp_master_refresh_repeat,
        "garp_lower_prio_delay": int(lo_delay),
        "garp_lower_prio_rep": lo_rep,
        "lower_prio_no_advert": int(d.lower_prio_no_advert(config, inst)),
        "higher_prio_send_advert": int(d.higher_prio_send_advert(config, inst)),
        "vrid": inst.vrid,
        "base_priority": inst.priority,
        "effective_priority": f.effective_priority,
        "vipset": f.state == "MASTER" and (not inst.held_vips or any(f.vips_set.values())),
        "promote_secondaries": d._inst_flag(inst, "promote_secondaries"),
        "adver_int": g(inst.advert_int),
        "master_adver_int": g(f.master_adver_int),
        "accept": int(d.accept(config, inst)),
        "nopreempt": inst.nopreempt,
        "preempt_delay": int(inst.preempt_delay),
        "state": d.state_code(f.state),
        "wantstate": d.state_code(f.wantstate),
        "version": inst.version,
        "smtp_alert": inst.smtp_alert,
        "notify_deleted": d._inst_flag(inst, "notify_deleted"),
    }
    for key, n in (("script_backup", inst.notify_backup), ("script_master", inst.notify_master),
                   ("script_fault", inst.notify_fault), ("script_stop", inst.notify_stop),
                   ("script", inst.notify), ("script_master_rx_lower_pri", inst.notify_master_rx_lower_pri)):
        s = _script(n)
        if s is not None:
            out[key] = s
    if inst.virtual_ipaddresses:
        out["vips"] = d.vip_strings(inst, f)
    if inst.virtual_ipaddresses_excluded:
        out["evips"] = d.vip_strings(inst, f, excluded=True)
    if inst.virtual_routes:
        out["vroutes"] = [" ".join(r.words) for r in inst.virtual_routes]
    if inst.virtual_rules:
        out["vrules"] = [" ".join(r.words) for r in inst.virtual_rules]
    if inst.track_interfaces:
        out["track_ifp"] = [r.name for r in inst.track_interfaces]
    if inst.track_scripts:
        out["track_script"] = [d.cmd_str(s.script) for s in (config.script(r.name) for r in inst.track_scripts) if s]
    auth = inst.authentication
    atype = 0 if auth is None or auth.auth_type == AuthType.NONE else 2 if auth.auth_type == AuthType.AH else 1
    out["auth_type"] = atype
    if atype:
        out["auth_data"] = MASK
    return out


def render(config: Config, facts: Facts) -> str:
    """``keepalived.json``; like keepalived, no file content without instances
    (the caller writes nothing then)."""
    items = []
    for inst in config.vrrp_instances:
        f = facts.instances.get(inst.name) or InstanceFacts(name=inst.name, last_transition=facts.now)
        stats = {fl.name: getattr(f.stats, fl.name) for fl in fields(f.stats)}
        items.append({"data": instance_data(config, inst, f), "stats": stats})
    return encode(items) + "\n"
