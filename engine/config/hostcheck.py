"""Checks of a configuration against this host, as ``keepalived -t`` makes them.

Kept out of ``load()``'s parse, which depends only on the files: a config
checked on a build machine, or a test's config parsed outside the namespace
it runs in, must not change verdict with the host.  ``vipdeck check`` and the
daemon's start-up add these (``load(..., host=True)``), where the host is the
one the configuration is for.  They are warnings (code ``host``), like
keepalived's: an interface may be made after the check.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterable

from vipdeck.engine.config import model as m
from vipdeck.engine.config.diagnostics import HOST, Diagnostic, ParseResult


def interfaces_here() -> set[str]:
    """The interface names of this network namespace."""
    try:
        return {name for _, name in socket.if_nameindex()}
    except OSError:
        return set()


def check(config: m.Config, interfaces: Iterable[str] | None = None, *, nft: bool | None = None) -> list[Diagnostic]:
    """Every interface the configuration names that this host does not have,
    and nft(8) when something needs our nftables rules (``nft``: whether it is
    installed; None: look)."""
    have = interfaces_here() if interfaces is None else set(interfaces)
    out: list[Diagnostic] = []
    seen: set[tuple[str, str, int]] = set()

    def need(ifname: str | None, loc: m.Loc, what: str, consequence: str) -> None:
        if not ifname or ifname in have or (ifname, loc.file, loc.line) in seen:
            return
        seen.add((ifname, loc.file, loc.line))
        out.append(Diagnostic("warning", loc.file, loc.line,
                              f"interface '{ifname}' of {what} does not exist on this host: {consequence}", HOST))

    for inst in config.vrrp_instances:
        where = f"vrrp_instance {inst.name}"
        need(inst.interface, inst.loc, where, "vipdeck cannot open the instance's VRRP socket")
        for ref in inst.track_interfaces:
            need(ref.name, ref.loc, f"track_interface in {where}", "it counts as down")
        made = {vm.name for vm in inst.vmacs}       # use_vmac: made at start, on their base
        for vm in inst.vmacs:
            if vm.base != inst.interface:
                need(vm.base, inst.loc, f"VMAC {vm.name} of {where}", "the VMAC cannot be made")
        for vip in inst.held_vips:
            if vip.dev != inst.interface and vip.dev not in made:   # the instance's own is said once, above
                need(vip.dev, vip.loc, f"{vip} in {where}", "the address cannot be added")
    needs = [i for i in config.vrrp_instances if i.no_accept or i.vmacs]
    if needs and not (shutil.which("nft") is not None if nft is None else nft):
        for inst in needs:
            what = "no_accept (strict mode)" if inst.no_accept else "use_vmac"
            done = ("its VIPs would accept traffic" if inst.no_accept else
                    "its VMAC's IGMP/MLD reports would carry the virtual MAC, also from a backup")
            out.append(Diagnostic("warning", inst.loc.file, inst.loc.line, f"vrrp_instance {inst.name} has {what}, "
                                  f"which needs nft(8) (package nftables), not installed here: {done}", HOST))
    for grp in config.sync_groups:
        for ref in grp.track_interfaces:
            need(ref.name, ref.loc, f"track_interface in vrrp_sync_group {grp.name}", "it counts as down")
    for vip in config.static_ipaddresses:
        need(vip.dev, vip.loc, f"static_ipaddress {vip}", "the address cannot be added")
    sd = config.global_defs.lvs_sync_daemon
    if sd is not None:
        need(sd.interface, sd.loc, "lvs_sync_daemon", "the kernel cannot start the sync daemon: no connection sync")
    for vs in config.virtual_servers:
        for rs in vs.real_servers:
            for chk in rs.checkers:
                need(chk.bind_if, chk.loc, f"bind_if of {chk.kind} for real_server {rs}", "the check fails")
    return out


def with_host_checks(result: ParseResult, interfaces: Iterable[str] | None = None) -> ParseResult:
    """``result`` with this host's warnings merged in, in file and line order."""
    if result.config is None:
        return result
    extra = check(result.config, interfaces)
    if not extra:
        return result
    order = {f: i for i, f in enumerate(result.config.files)}
    merged = sorted(result.diagnostics + tuple(extra), key=lambda d: (order.get(d.file, len(order)), d.line))
    return ParseResult(result.config, tuple(merged))
