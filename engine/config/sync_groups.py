"""VRRP sync groups: the ``vrrp_sync_group`` block and its resolution.

keepalived.conf(5) "VRRP synchronization group(s)".  Members are resolved
against the instances that could be built; a member that failed to build
has had its own error already and is not reported again.
"""

from __future__ import annotations

from vipdeck.engine.config import keywords
from vipdeck.engine.config import model as m
from vipdeck.engine.config.context import BLOCK, LINE, Draft, ParseContext, loc
from vipdeck.engine.config.instances import NOTIFY_KEYS, smtp_default
from vipdeck.engine.config.lexer import show
from vipdeck.engine.config.trackers import check_refs, parse_refs
from vipdeck.engine.config.tree import Stmt
from vipdeck.engine.config.values import bool_arg, flag_arg, notify_arg


def parse_sync_group(s: ParseContext, st: Stmt) -> None:
    name = s.name_arg(st, "vrrp_sync_group")
    if name is None:
        return
    d, dr = s.d, Draft("vrrp_sync_group", name, loc(st))
    where = f"vrrp_sync_group {show(name)}"

    def group(x: Stmt) -> None:
        dr.values["_has_group"] = True
        for member in x.block or []:
            if member.block is not None:
                d.error(member.words[0], f"instance name '{show(member.keyword)}' in {where} group "
                        "does not take a { } block")
            for t in member.words:
                dr.add("group", t)

    def put(key: str, conv):  # type: ignore[no-untyped-def]
        return (LINE, lambda x: dr.set(d, key, conv(x), x.words[0]))

    def global_tracking(x: Stmt) -> None:
        """keepalived 2.2.7 reads the old global_tracking as sync_group_tracking_weight."""
        dr.set(d, "global_tracking", flag_arg(d, x), x.words[0])
        dr.set(d, "sync_group_tracking_weight", True, x.words[0])

    def refs(key: str, lo: int, hi: int):  # type: ignore[no-untyped-def]
        return (BLOCK, lambda x: dr.add(key, *parse_refs(s, x, lo, hi)))

    table = {
        "group": (BLOCK, group),
        "smtp_alert": put("smtp_alert", lambda x: bool_arg(d, x)),
        "track_interface": refs("track_interfaces", -253, 253),
        "track_script": refs("track_scripts", -253, 253),
        "track_file": refs("track_files", -254, 254),
        "track_process": refs("track_processes", -254, 254),
        "global_tracking": (LINE, global_tracking),
        "sync_group_tracking_weight": put("sync_group_tracking_weight", lambda x: flag_arg(d, x)),
    }
    for key in NOTIFY_KEYS:
        table[key] = put(key, lambda x: notify_arg(d, x))
    known = keywords.names("vrrp_sync_group")
    block = []
    for x in st.block or []:
        if x.keyword not in table and x.keyword not in known and not x.args and x.block is None:
            dr.add("_loose", x)         # maybe an instance name outside group { } (old syntax)
        else:
            block.append(x)
    s.walk(block, table, where, kind="vrrp_sync_group",
           deprecated={"global_tracking": "'global_tracking' is deprecated (it is read as "
                                          "sync_group_tracking_weight); use track_* blocks on the sync group"},
           other=dr.other)
    s.sync_groups.append(dr)


def finish_sync_groups(s: ParseContext, g: m.GlobalDefs, instances: list[m.VrrpInstance],
                        broken: set[str]) -> list[m.SyncGroup]:
    d = s.d
    by_name = {i.name: i for i in instances}
    member_of: dict[str, str] = {}
    out: list[m.SyncGroup] = []
    names: dict[str, m.Loc] = {}
    for dr in s.sync_groups:
        where = f"vrrp_sync_group {show(dr.name)}"
        if dr.name in names:
            d.error(dr.loc, f"{where} is defined twice (first at {names[dr.name]}); this one is ignored")
            continue
        names[dr.name] = dr.loc
        members: list[str] = []
        for t in dr.items("group"):
            n = t.text
            if n not in by_name:
                if n not in broken:
                    d.error(t, f"{where}: no vrrp_instance named '{show(n)}'")
                continue
            if n in member_of:
                d.error(t, f"{where}: vrrp_instance {show(n)} is already in vrrp_sync_group {show(member_of[n])}")
                continue
            if n in members:
                d.warning(t, f"{where}: vrrp_instance {show(n)} is listed twice")
                continue
            member_of[n] = dr.name
            members.append(n)
        for x in dr.items("_loose"):
            hint = (" (instance names belong inside 'group { }')" if x.keyword in by_name or x.keyword in broken
                    else "")
            d.warning(x.words[0], f"unknown keyword '{show(x.keyword)}' in {where}{hint}; ignored")
        if not dr.get("_has_group"):
            d.warning(dr.loc, f"{where} has no 'group {{ }}' block listing its instances; it does nothing")
        elif len(members) == 1:
            d.warning(dr.loc, f"{where} has only one instance; a sync group needs at least two to be useful")
        if not dr.get("sync_group_tracking_weight"):
            for n in members:
                inst = by_name[n]
                weighted = [r for r in inst.track_scripts + inst.track_files + inst.track_processes
                            if r.weight]
                for r in weighted:
                    d.warning(r.loc, f"vrrp_instance {show(n)} is in {where}: the weight of tracked "
                              f"'{show(r.name)}' is ignored (set sync_group_tracking_weight to use it)")
        refs = {k: dr.items(k) for k in ("track_scripts", "track_files", "track_processes")}
        check_refs(s, where, refs)
        v = dr.values
        out.append(m.SyncGroup(
            name=dr.name, group=tuple(members),
            notify_master=v.get("notify_master"), notify_backup=v.get("notify_backup"),
            notify_fault=v.get("notify_fault"), notify_stop=v.get("notify_stop"), notify=v.get("notify"),
            smtp_alert=smtp_default(g, v.get("smtp_alert", g.smtp_alert_vrrp)),
            track_interfaces=tuple(dr.items("track_interfaces")), track_scripts=tuple(refs["track_scripts"]),
            track_files=tuple(refs["track_files"]), track_processes=tuple(refs["track_processes"]),
            global_tracking=v.get("global_tracking", False),
            sync_group_tracking_weight=v.get("sync_group_tracking_weight", False), loc=dr.loc))
    return out
