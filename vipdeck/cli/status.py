"""`vipdeck status`: the daemon's instances (and virtual servers) at a glance."""

from __future__ import annotations

import json
import sys

from vipdeck.cli.common import add_socket, age, call, when


def add_arguments(p) -> None:
    add_socket(p)
    p.add_argument("--json", action="store_true", help="print the snapshot as JSON")


def render(snap: dict) -> str:
    from vipdeck.console.derive import rs_shown_state   # the console's rule: no DRAINED without a kernel weight

    node = snap.get("node", {})
    now = node.get("now") or 0
    out = [f"node {node.get('hostname')} router_id {node.get('router_id')} pid {node.get('pid')}"]
    for itf in node.get("interfaces", []):
        vr = itf.get("vrrp") or {}
        dropped = vr.get("dropped") or {}
        if dropped:
            what = ", ".join(f"{DROP_LABEL.get(k, k)} {n}" for k, n in sorted(dropped.items()))
            out.append(f"{itf['name']}: VRRP packets dropped before any instance saw them: {what} "
                       f"(of {vr.get('received', 0)} received)")
    drained = (snap.get("operator") or {}).get("drained")
    if drained:
        out.append(f"DRAINED by {drained['who']} {when(drained.get('when'), now)} "
                   f"({drained.get('why') or 'no reason given'}): every master resigned with a priority-0 "
                   "advert; instances elect with priority 1 until undrain")
    for i in snap.get("instances", []):
        contrib = ", ".join(f"{t['name']} {t['contribution']:+d}" for t in i.get("trackers", []) if t.get("contribution")) or "no tracker change"
        out.append(f"\n{i['name']}: vrid {i['vrid']} on {i['interface']} (VRRPv{i['version']}, advert {i['advert_int']}s)")
        out.append(f"  state      {i['state']}")
        wire = i.get("wire") or {}
        if wire:
            dest = (f"unicast to {', '.join(wire['unicast_peers'])}" if wire.get("unicast_peers")
                    else f"multicast to {wire.get('mcast_group')}")
            out.append(f"  adverts    {dest} from {wire.get('source') or '?'}")
            vm = wire.get("vmac")
            if vm:
                out.append(f"  vmac       {vm['name']} ({vm['mac']}){', adverts from the base' if vm.get('xmit_base') else ''}")
        drained_note = "; drained: elects with priority 1" if (i.get("operator") or {}).get("drained") else ""
        out.append(f"  priority   base {i['base_priority']} -> effective {i['effective_priority']} "
                   f"({contrib}{drained_note})")
        vips = ", ".join(f"{v['address']}{'' if v['present'] else ' (not in kernel)'}" if i['state'] == 'MASTER' else v['address'] for v in i.get("vips", []))
        out.append(f"  vips       {vips}")
        m = i.get("master") or {}
        mac = f" ({m['mac']})" if m.get("mac") else ""
        if i["state"] == "MASTER":
            out.append(f"  master     this node{mac}")
        elif m.get("address"):
            out.append(f"  master     {m['address']}{mac} prio {m.get('priority')} "
                       f"last advert {age(m.get('last_advert_age'))} ago")
        else:
            out.append("  master     none heard")
        c = i.get("counters", {})
        rej = ", ".join(f"{k} {v}" for k, v in sorted(c.get("rejects", {}).items())) or "none"
        out.append(f"  counters   sent {c.get('adverts_sent', 0)}, received {c.get('adverts_received', 0)}, transitions {c.get('transitions', 0)}, rejected: {rej}")
        t = i.get("last_transition")
        if t:
            out.append(f"  last       {t['from']} -> {t['to']} {age(now - t['time'])} ago: {t['reason']} ({t.get('detail', '')})")
        op = i.get("operator") or {}
        if op.get("held") and not op.get("hold_until") and not op.get("takeover"):
            out.append(f"  operator   held backup until cleared by {op.get('who')} {when(op.get('when'), now)} "
                       f"({op.get('why') or ''})")
        if op.get("hold_until") or op.get("takeover"):
            what = ("takeover" + (" PENDING (no master heard to take over from yet)" if op.get("takeover_pending")
                                  else "") if op.get("takeover") else f"hold ends {when(op.get('hold_until'), now)}")
            grp = f" for sync group {op['group']} ({', '.join(op.get('scope') or [])})" if op.get("group") else ""
            out.append(f"  operator   {what}{grp} by {op.get('who')} {when(op.get('when'), now)} "
                       f"({op.get('why') or ''})")
    out += adverts_lines(snap.get("adverts") or [])
    ipvs = snap.get("ipvs") or {}
    if snap.get("virtual_servers"):
        out.append("\nIPVS: " + ("available" if ipvs.get("available") else f"UNAVAILABLE ({ipvs.get('error')})"))
        for vs in snap["virtual_servers"]:
            q = "quorum ok" if vs.get("quorum_ok") else "QUORUM LOST"
            sorry = f", sorry server {vs['sorry_server']} {'IN USE' if vs.get('sorry_active') else 'idle'}" if vs.get("sorry_server") else ""
            out.append(f"  {vs['protocol']} {vs['key']} {vs['scheduler']} {vs['forward']} ({q}{sorry})")
            for rs in vs.get("real_servers", []):
                w = f"{rs['weight_effective']}" + (f" (cfg {rs['weight_config']})" if rs['weight_effective'] != rs['weight_config'] else "")
                kern = "-" if rs.get("weight_kernel") is None else rs["weight_kernel"]
                err = next((c.get("error") for c in rs.get("checkers", []) if c.get("error")), "")
                out.append(f"    -> {rs['key']:<22} {rs_shown_state(rs):<11} weight {w:<12} kernel {kern} {err}")
    return "\n".join(out)


DROP_LABEL = {"own_source": "our own source address", "truncated": "too short", "malformed": "malformed IP",
              "ip_header": "bad IP header", "auth_unsupported": "IPsec AH", "addr_family": "bad address"}


def adverts_lines(adverts: list[dict]) -> list[str]:
    """What the wire shows that needs an operator: split brains, other flags,
    and the sources whose adverts were rejected (with why and from which MAC)."""
    out = []
    for a in adverts:
        flags = a.get("flags") or []
        rejected = a.get("rejected_sources") or []
        if not flags and not rejected:
            continue
        where = f"vrid {a['vrid']} IPv{a.get('family', 4)} on {a.get('interface')}"
        whose = f" ({a['instance']})" if a.get("instance") else " (foreign)"
        out.append(f"\nadverts {where}{whose}: master {a.get('master') or 'none heard'}")
        for f in flags:
            out.append(f"  {f['kind'].upper():<18} {f.get('detail', '')}")
        for r in rejected[:10]:
            out.append(f"  rejected from {r['address']}{' (' + r['mac'] + ')' if r.get('mac') else ''}: "
                       f"{r['reason']} x{r['count']}, last {age(r.get('last_seen_age'))} ago: {r.get('detail', '')}")
        if len(rejected) > 10:
            out.append(f"  ... and {len(rejected) - 10} more rejected sources")
    return out


def run(args) -> int:
    rc, snap = call(args.socket, "snapshot")
    if rc:
        return rc
    if args.json:
        json.dump(snap, sys.stdout, indent=1, default=str)
        print()
    else:
        print(render(snap))
    return 0
