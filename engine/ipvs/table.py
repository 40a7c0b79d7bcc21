"""The IPVS table as ipvsadm 1.31 prints it, byte for byte.

Operators read ``ipvsadm -ln`` every day; printing exactly the same text lets
them compare our view with the kernel's and lets the tests prove we read the
kernel correctly (the guest tests diff this module's output against the real
ipvsadm).  Quirks reproduced on purpose:

* column padding, including the trailing spaces after InActConn;
* sorting with ipvsadm's comparison, which subtracts unsigned 32-bit values
  and reads the result as a signed int (so 10.0.0.1 sorts after
  192.168.1.1);
* fwmarks above 2^31 printed as negative numbers (``%d`` of a u32);
* ``print_largenum`` abbreviations (K/M/G/T) unless ``exact``;
* name truncation (service column 33, destination column 28 for IPv4).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from socket import AF_INET, AF_INET6
from typing import Callable

from vipdeck.engine.ipvs.model import (FORWARD_LABELS, TUNNEL_CSUM_LABELS, DestStatus, ServiceStatus, Snapshot,
                                       SyncDaemon, Timeouts)

MODES = ("list", "stats", "rate", "thresholds", "persistent-conn", "tun-info")
_AF = {4: AF_INET, 6: AF_INET6}
_PROTO_NUM = {"TCP": 6, "UDP": 17, "SCTP": 132}
_SCHED_FLAG_NAMES = {
    "sh": {"flag-1": "sh-fallback", "flag-2": "sh-port"},
    "mh": {"flag-1": "mh-fallback", "flag-2": "mh-port"},
}


@dataclass(frozen=True)
class Resolver:
    """Name lookups for the non-numeric listing (``-l`` without ``-n``)."""

    host: Callable[[str], str | None]
    service: Callable[[int, str], str | None]


# no names: the non-numeric listing shows addresses (engine.ipvs.names has the system's lookups)
NO_NAMES = Resolver(lambda addr: None, lambda port, proto: None)


# ------------------------------------------------------------------ ordering

def _c_int(value: int) -> int:
    """An unsigned 32-bit difference read back as a C int."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _addr_words(addr: str) -> list[int]:
    packed = ipaddress.ip_address(addr).packed
    return [int.from_bytes(packed[i:i + 4], "big") for i in range(0, len(packed), 4)]


def _cmp_addr(a: str, b: str) -> int:
    wa, wb = _addr_words(a or "0.0.0.0"), _addr_words(b or "0.0.0.0")
    r = 0
    for x, y in zip(wa, wb):
        r = _c_int(x - y)
        if r:
            break
    return r


def _cmp_services(s1: ServiceStatus, s2: ServiceStatus) -> int:
    k1, k2 = s1.key, s2.key
    r = _c_int(k1.fwmark - k2.fwmark)
    if r:
        return r
    r = _AF[k1.family] - _AF[k2.family]
    if r:
        return r
    r = _PROTO_NUM.get(k1.protocol, 0) - _PROTO_NUM.get(k2.protocol, 0)
    if r:
        return r
    if k1.address and k2.address:
        r = _cmp_addr(k1.address, k2.address)
        if r:
            return r
    return k1.port - k2.port


def _cmp_dests(d1: DestStatus, d2: DestStatus) -> int:
    r = _cmp_addr(d1.dest.address, d2.dest.address)
    if r:
        return r
    return d1.dest.port - d2.dest.port


def sort_services(services) -> list[ServiceStatus]:
    return sorted(services, key=functools.cmp_to_key(_cmp_services))


def sort_dests(dests) -> list[DestStatus]:
    return sorted(dests, key=functools.cmp_to_key(_cmp_dests))


# ------------------------------------------------------------------ pieces

def largenum(value: int, exact: bool = False) -> str:
    """ipvsadm's print_largenum: 9 columns, abbreviated above 10^8."""
    if exact:
        digits = str(value)
        return digits.rjust(9 if len(digits) <= 8 else len(digits) + 1)
    if value < 100_000_000:
        return f"{value:9d}"
    if value < 1_000_000_000:
        return f"{value // 1000:8d}K"
    if value < 100_000_000_000:
        return f"{value // 1_000_000:8d}M"
    if value < 100_000_000_000_000:
        return f"{value // 1_000_000_000:8d}G"
    return f"{value // 1_000_000_000_000:8d}T"


def _addrport(family: int, addr: str, port: int, proto: str, numeric: bool,
              resolver: Resolver) -> str:
    host, serv = addr, str(port)
    if not numeric:
        host = resolver.host(addr) or addr
        if proto in ("TCP", "UDP"):
            serv = resolver.service(port, proto.lower()) or serv
    if family == 6:
        return f"[{host}]:{serv}"
    return f"{host}:{serv}"


def _service_name(s: ServiceStatus, numeric: bool, resolver: Resolver) -> str:
    k = s.key
    if k.is_fwmark:
        mark = _c_int(k.fwmark)          # ipvsadm prints the u32 with %d
        return f"FWM  {mark} IPv6" if k.family == 6 else f"FWM  {mark}"
    name = f"{k.protocol:<4} {_addrport(k.family, k.address, k.port, k.protocol, numeric, resolver)}"
    return name if k.family == 6 else name[:33]


def _sched_flags(scheduler: str, flags: tuple[str, ...]) -> str:
    names = _SCHED_FLAG_NAMES.get(scheduler, {})
    return ",".join(names.get(f, f) for f in flags)


def _service_settings(s: ServiceStatus) -> str:
    svc = s.service
    out = f" {svc.scheduler}"
    if svc.sched_flags:
        out += f" ({_sched_flags(svc.scheduler, svc.sched_flags)})"
    if svc.persistent:
        out += f" persistent {svc.persistence_timeout}"
        if svc.persistence_netmask is not None:
            out += f" mask {svc.persistence_netmask}"
    if svc.one_packet:
        out += " ops"
    if svc.pe_name:
        out += f" pe {svc.pe_name}"
    return out


def header(version: str, size: int) -> str:
    return f"IP Virtual Server version {version} (size={size})\n"


def title(mode: str) -> str:
    col = "Prot LocalAddress:Port".ljust(33)
    if mode == "stats":
        return col + " " + " ".join(f"{h:>8}" for h in ("Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")) \
            + "\n  -> RemoteAddress:Port\n"
    if mode == "rate":
        return col + " " + " ".join(f"{h:>8}" for h in ("CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")) \
            + "\n  -> RemoteAddress:Port\n"
    if mode == "thresholds":
        return col + " " + " ".join(f"{h:<10}" for h in ("Uthreshold", "Lthreshold", "ActiveConn", "InActConn")) \
            + "\n  -> RemoteAddress:Port\n"
    if mode == "persistent-conn":
        return (col + f" {'Weight':<9} {'PersistConn':<11} {'ActiveConn':<10} {'InActConn':<10}"
                + "\n  -> RemoteAddress:Port\n")
    if mode == "tun-info":
        return ("Prot LocalAddress:Port Scheduler Flags\n"
                "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
    return ("Prot LocalAddress:Port Scheduler Flags\n"
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")


def service_line(s: ServiceStatus, mode: str = "list", *, numeric: bool = True,
                 exact: bool = False, resolver: Resolver = NO_NAMES) -> str:
    name = _service_name(s, numeric, resolver)
    st = s.stats
    if mode == "stats":
        return f"{name:<33}" + "".join(largenum(v, exact) for v in
                                       (st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes)) + "\n"
    if mode == "rate":
        return f"{name:<33}" + "".join(largenum(v, exact) for v in
                                       (st.cps, st.inpps, st.outpps, st.inbps, st.outbps)) + "\n"
    return name + _service_settings(s) + "\n"


def dest_line(s: ServiceStatus, d: DestStatus, mode: str = "list", *, numeric: bool = True,
              exact: bool = False, resolver: Resolver = NO_NAMES) -> str:
    k = s.key
    name = _addrport(k.family, d.dest.address, d.dest.port, k.protocol, numeric, resolver)
    if k.family != 6:
        name = name[:28]
    st = d.stats
    if mode == "stats":
        return f"  -> {name:<28}" + "".join(largenum(v, exact) for v in
                                            (st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes)) + "\n"
    if mode == "rate":
        return (f"  -> {name:<28} {st.cps:8d} {st.inpps:8d} {st.outpps:8d}"
                + largenum(st.inbps, exact) + largenum(st.outbps, exact) + "\n")
    if mode == "thresholds":
        return (f"  -> {name:<28} {d.dest.u_threshold:<10d} {d.dest.l_threshold:<10d} "
                f"{d.active_conns:<10d} {d.inactive_conns:<10d}\n")
    if mode == "persistent-conn":
        return (f"  -> {name:<28} {d.dest.weight:<9d} {d.persist_conns:<11d} "
                f"{d.active_conns:<10d} {d.inactive_conns:<10d}\n")
    fwd = FORWARD_LABELS.get(d.dest.forward, "(null)")
    if mode == "tun-info":
        return (f"  -> {name:<28} {fwd:<7} {tunnel_info(d):<13} {d.dest.weight:<6d} {d.active_conns:<10d} "
                f"{d.inactive_conns:<10d}\n")
    return f"  -> {name:<28} {fwd:<7} {d.dest.weight:<6d} {d.active_conns:<10d} {d.inactive_conns:<10d}\n"


def tunnel_info(d: DestStatus) -> str:
    """ipvsadm's TunnelInfo column: ``ipip``, ``gue:PORT:FLAGS``, ``gre:FLAGS`` or ``n/a``."""
    dest = d.dest
    if dest.forward != "tunnel":
        return "n/a"
    csum = TUNNEL_CSUM_LABELS.get(dest.tunnel_flags, "?")
    if dest.tunnel_type == "gue":
        return f"gue:{dest.tunnel_port}:{csum}"
    if dest.tunnel_type == "gre":
        return f"gre:{csum}"
    return dest.tunnel_type


def daemon_lines(daemons: list[SyncDaemon]) -> str:
    """``ipvsadm -L --daemon``: the master first, then the backup."""
    out = []
    for state in ("master", "backup"):
        for d in daemons:
            if d.state != state:
                continue
            line = f"{state} sync daemon (mcast={d.interface}, syncid={d.syncid}"
            if d.maxlen:
                line += f", maxlen={d.maxlen}"
            if d.group:
                line += f", group={d.group}"
            if d.port:
                line += f", port={d.port}"
            if d.ttl:
                line += f", ttl={d.ttl}"
            out.append(line + ")\n")
    return "".join(out)


def timeout_line(t: Timeouts) -> str:
    """``ipvsadm -L --timeout``."""
    return f"Timeout (tcp tcpfin udp): {t.tcp} {t.tcpfin} {t.udp}\n"


def render(snapshot: Snapshot, mode: str = "list", *, numeric: bool = True, exact: bool = False,
           sort: bool = True, resolver: Resolver = NO_NAMES,
           extra: Callable[[ServiceStatus, DestStatus | None], str] | None = None) -> str:
    """The whole listing, as ``ipvsadm -L`` with the matching options.

    ``extra`` (see ``vipdeck.cli.ipvs``) may append text to a line before its
    newline: called with (service, None) for service lines and (service,
    dest) for destination lines.
    """
    if mode not in MODES:
        raise ValueError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    parts = [header(snapshot.version, snapshot.conn_tab_size), title(mode)]
    services = sort_services(snapshot.services) if sort else list(snapshot.services)
    for s in services:
        line = service_line(s, mode, numeric=numeric, exact=exact, resolver=resolver)
        if extra is not None:
            line = line[:-1] + extra(s, None) + "\n"
        parts.append(line)
        for d in (sort_dests(s.dests) if sort else s.dests):
            line = dest_line(s, d, mode, numeric=numeric, exact=exact, resolver=resolver)
            if extra is not None:
                line = line[:-1] + extra(s, d) + "\n"
            parts.append(line)
    return "".join(parts)
