"""Kernel IPVS over generic netlink (pyroute2), as an asyncio facade.

The daemon is asyncio, and pyroute2's synchronous ``IPVS`` runs its own
event loop (it cannot be used inside a running one), so this module drives
pyroute2's ``AsyncIPVS`` directly; :func:`read_snapshot` is a small
synchronous entry point for command-line tools.

Two pyroute2 details shape the code:

* ``IPVSDest`` defaults to direct routing and a "set" replaces the whole
  destination, so every write sends all fields of a :class:`Dest`, and
  :meth:`IpvsKernel.set_weight` reads the current destination first.
* ``from_message()`` drops the forwarding method, so replies are read from
  the raw netlink attributes and requests are built from our own values.
* pyroute2 types the GUE tunnel port as a host-order u16 but the kernel
  reads it big-endian (``nla_get_be16``): it is swapped both ways here.
* pyroute2 has no sync-daemon, timeout or flush requests (its message class
  types ``IPVS_CMD_ATTR_DAEMON`` and the timeouts as opaque hex), so those
  are sent and read with :class:`_CtlMsg`, our own description of the same
  generic-netlink family (attribute numbers from ``linux/ip_vs.h``).

A kernel without ip_vs raises :class:`IpvsUnavailable` on open; callers keep
running and report "IPVS unavailable".
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from typing import Any

from vipdeck.engine.ipvs.model import (
    FORWARD_CODES,
    FORWARD_NAMES,
    SYNC_STATES,
    TUNNEL_TYPES,
    Dest,
    DestKey,
    DestStatus,
    Service,
    ServiceKey,
    ServiceStatus,
    Snapshot,
    Stats,
    SyncDaemon,
    Timeouts,
    with_weight,
)

# IP_VS_SVC_F_* (include/uapi/linux/ip_vs.h)
F_PERSISTENT = 0x0001
F_HASHED = 0x0002          # kernel-internal, reported but never set by us
F_ONEPACKET = 0x0004
F_SCHED_BITS = {"flag-1": 0x0008, "flag-2": 0x0010, "flag-3": 0x0020}
PROTO_NUMBERS = {"TCP": socket.IPPROTO_TCP, "UDP": socket.IPPROTO_UDP, "SCTP": 132}
PROTO_NAMES = {v: k for k, v in PROTO_NUMBERS.items()}
AF = {4: socket.AF_INET, 6: socket.AF_INET6}
# IPVS_CMD_* (include/uapi/linux/ip_vs.h) that pyroute2's IPVS class does not send
IPVS_CMD_NEW_DAEMON = 9
IPVS_CMD_DEL_DAEMON = 10
IPVS_CMD_GET_DAEMON = 11
IPVS_CMD_SET_CONFIG = 12
IPVS_CMD_GET_CONFIG = 13
IPVS_CMD_GET_INFO = 15
IPVS_CMD_FLUSH = 17
SYNC_STATE_NAMES = {v: k for k, v in SYNC_STATES.items()}
_STAT_FIELDS = ("conns", "inpkts", "outpkts", "inbytes", "outbytes",
                "cps", "inpps", "outpps", "inbps", "outbps")


class IpvsError(RuntimeError):
    """A netlink request failed; ``code`` is the errno the kernel returned."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class IpvsUnavailable(IpvsError):
    """The kernel (or this network namespace) has no IPVS."""


# ------------------------------------------------------------------ decoding

def _v6_mask_to_wire(prefix: int) -> str:
    # IPv6 services carry a prefix length as a host-order u32 in an attribute
    # pyroute2 types as an IPv4 address; build the matching dotted form.
    return socket.inet_ntoa(struct.pack("=I", prefix))


def _wire_to_v6_mask(text: str) -> int:
    return struct.unpack("=I", socket.inet_aton(text))[0]


def _stats(nla: Any) -> Stats:
    if nla is None:
        return Stats()
    values = {}
    for name in _STAT_FIELDS:
        v = nla.get(f"IPVS_STATS_ATTR_{name.upper()}")
        values[name] = int(v or 0)
    return Stats(**values)


def service_from_nla(nla: Any) -> tuple[Service, Stats]:
    """Service settings and counters from a raw IPVS_CMD_ATTR_SERVICE."""
    af = nla.get("IPVS_SVC_ATTR_AF")
    family = 6 if af == socket.AF_INET6 else 4
    fwmark = nla.get("IPVS_SVC_ATTR_FWMARK") or 0
    if fwmark:
        key = ServiceKey.fwm(fwmark, family)
    else:
        proto = nla.get("IPVS_SVC_ATTR_PROTOCOL")
        if proto not in PROTO_NAMES:
            raise IpvsError(f"service with unsupported protocol number {proto!r}")
        key = ServiceKey(protocol=PROTO_NAMES[proto], address=nla.get("IPVS_SVC_ATTR_ADDR"),
                         port=nla.get("IPVS_SVC_ATTR_PORT") or 0)
    flags_nla = nla.get("IPVS_SVC_ATTR_FLAGS") or {}
    flags = flags_nla.get("flags", 0) if hasattr(flags_nla, "get") else 0
    netmask_raw = nla.get("IPVS_SVC_ATTR_NETMASK")
    netmask: str | None = None
    if netmask_raw:
        netmask = str(_wire_to_v6_mask(netmask_raw)) if family == 6 else netmask_raw
    timeout = nla.get("IPVS_SVC_ATTR_TIMEOUT") or 0
    svc = Service(
        key=key,
        scheduler=nla.get("IPVS_SVC_ATTR_SCHED_NAME") or "",
        persistence_timeout=timeout if flags & F_PERSISTENT else None,
        persistence_netmask=netmask if flags & F_PERSISTENT else None,
        one_packet=bool(flags & F_ONEPACKET),
        sched_flags=tuple(n for n, bit in F_SCHED_BITS.items() if flags & bit),
        pe_name=nla.get("IPVS_SVC_ATTR_PE_NAME") or "",
    )
    stats = _stats(nla.get("IPVS_SVC_ATTR_STATS64") or nla.get("IPVS_SVC_ATTR_STATS"))
    return svc, stats


def dest_from_nla(nla: Any) -> DestStatus:
    """A destination with counters from a raw IPVS_CMD_ATTR_DEST."""
    tun_types = {v: k for k, v in TUNNEL_TYPES.items()}
    dest = Dest(
        address=nla.get("IPVS_DEST_ATTR_ADDR"),
        port=nla.get("IPVS_DEST_ATTR_PORT") or 0,
        weight=nla.get("IPVS_DEST_ATTR_WEIGHT") or 0,
        forward=FORWARD_NAMES.get(nla.get("IPVS_DEST_ATTR_FWD_METHOD") or 0, "masq"),
        u_threshold=nla.get("IPVS_DEST_ATTR_U_THRESH") or 0,
        l_threshold=nla.get("IPVS_DEST_ATTR_L_THRESH") or 0,
        tunnel_type=tun_types.get(nla.get("IPVS_DEST_ATTR_TUN_TYPE") or 0, "ipip"),
        tunnel_port=socket.ntohs(nla.get("IPVS_DEST_ATTR_TUN_PORT") or 0),     # be16 on the wire
        tunnel_flags=nla.get("IPVS_DEST_ATTR_TUN_FLAGS") or 0,
    )
    return DestStatus(
        dest=dest,
        active_conns=nla.get("IPVS_DEST_ATTR_ACTIVE_CONNS") or 0,
        inactive_conns=nla.get("IPVS_DEST_ATTR_INACT_CONNS") or 0,
        persist_conns=nla.get("IPVS_DEST_ATTR_PERSIST_CONNS") or 0,
        stats=_stats(nla.get("IPVS_DEST_ATTR_STATS64") or nla.get("IPVS_DEST_ATTR_STATS")),
    )


# ------------------------------------------------------------------ encoding

def service_fields(svc: Service | ServiceKey) -> dict[str, Any]:
    """IPVSService fields for a key (``ServiceKey``) or a full entry (``Service``)."""
    key = svc if isinstance(svc, ServiceKey) else svc.key
    fields: dict[str, Any] = {"af": AF[key.family]}
    if key.is_fwmark:
        fields["fwmark"] = key.fwmark
    else:
        fields.update(protocol=PROTO_NUMBERS[key.protocol], addr=key.address, port=key.port)
    if isinstance(svc, ServiceKey):
        return fields
    flags = 0
    if svc.persistent:
        flags |= F_PERSISTENT
    if svc.one_packet:
        flags |= F_ONEPACKET
    for name in svc.sched_flags:
        flags |= F_SCHED_BITS[name]
    if key.family == 6:
        netmask = _v6_mask_to_wire(int(svc.persistence_netmask or 128))
    else:
        netmask = svc.persistence_netmask or "255.255.255.255"
    fields.update(
        sched_name=svc.scheduler,
        flags={"flags": flags, "mask": 0xFFFFFFFF},
        timeout=svc.persistence_timeout or 0,
        netmask=netmask,
    )
    if svc.pe_name:
        fields["pe_name"] = svc.pe_name
    return fields


def dest_fields(dest: Dest | DestKey) -> dict[str, Any]:
    """IPVSDest fields: always the whole destination, never pyroute2's defaults."""
    family = 6 if ":" in dest.address else 4
    fields: dict[str, Any] = {"addr": dest.address, "port": dest.port, "addr_family": AF[family]}
    if isinstance(dest, DestKey):
        return fields
    fields.update(
        fwd_method=FORWARD_CODES[dest.forward],
        weight=dest.weight,
        u_thresh=dest.u_threshold,
        l_thresh=dest.l_threshold,
        tun_type=TUNNEL_TYPES[dest.tunnel_type],
        tun_port=socket.htons(dest.tunnel_port),      # the kernel reads it big-endian
        tun_flags=dest.tunnel_flags,
    )
    return fields


def _ctl_msg_class():
    """The IPVS family's commands pyroute2 leaves out, typed (built on first use:
    pyroute2 is imported lazily so the module loads without it)."""
    global _CTL_MSG
    if _CTL_MSG is None:
        from pyroute2.netlink import genlmsg, nla

        class _CtlMsg(genlmsg):
            prefix = "IPVS_CMD_ATTR_"
            nla_map = (
                ("IPVS_CMD_ATTR_UNSPEC", "none"),
                ("IPVS_CMD_ATTR_SERVICE", "hex"),
                ("IPVS_CMD_ATTR_DEST", "hex"),
                ("IPVS_CMD_ATTR_DAEMON", "daemon"),
                ("IPVS_CMD_ATTR_TIMEOUT_TCP", "uint32"),
                ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", "uint32"),
                ("IPVS_CMD_ATTR_TIMEOUT_UDP", "uint32"),
            )

            class daemon(nla):
                prefix = "IPVS_DAEMON_ATTR_"
                nla_map = (
                    ("IPVS_DAEMON_ATTR_UNSPEC", "none"),
                    ("IPVS_DAEMON_ATTR_STATE", "uint32"),
                    ("IPVS_DAEMON_ATTR_MCAST_IFN", "asciiz"),
                    ("IPVS_DAEMON_ATTR_SYNC_ID", "uint32"),
                    ("IPVS_DAEMON_ATTR_SYNC_MAXLEN", "uint16"),
                    ("IPVS_DAEMON_ATTR_MCAST_GROUP", "ip4addr"),
                    ("IPVS_DAEMON_ATTR_MCAST_GROUP6", "ip6addr"),
                    ("IPVS_DAEMON_ATTR_MCAST_PORT", "uint16"),       # host order (nla_get_u16)
                    ("IPVS_DAEMON_ATTR_MCAST_TTL", "uint8"),
                )

        _CTL_MSG = _CtlMsg
    return _CTL_MSG


_CTL_MSG = None


def daemon_attrs(d: SyncDaemon) -> list[tuple[str, Any]]:
    """IPVS_CMD_ATTR_DAEMON's attributes for starting ``d``; kernel defaults are left out."""
    attrs: list[tuple[str, Any]] = [
        ("IPVS_DAEMON_ATTR_STATE", SYNC_STATES[d.state]),
        ("IPVS_DAEMON_ATTR_MCAST_IFN", d.interface),
        ("IPVS_DAEMON_ATTR_SYNC_ID", d.syncid),
    ]
    if d.maxlen:
        attrs.append(("IPVS_DAEMON_ATTR_SYNC_MAXLEN", d.maxlen))
    if d.group:
        attrs.append(("IPVS_DAEMON_ATTR_MCAST_GROUP6" if ":" in d.group else "IPVS_DAEMON_ATTR_MCAST_GROUP",
                      d.group))
    if d.port:
        attrs.append(("IPVS_DAEMON_ATTR_MCAST_PORT", d.port))
    if d.ttl:
        attrs.append(("IPVS_DAEMON_ATTR_MCAST_TTL", d.ttl))
    return attrs


def daemon_from_nla(nla: Any) -> SyncDaemon | None:
    """A sync daemon from a raw IPVS_CMD_ATTR_DAEMON (None for a state we do not know)."""
    state = SYNC_STATE_NAMES.get(nla.get("IPVS_DAEMON_ATTR_STATE"))
    if state is None:
        return None
    return SyncDaemon(
        state=state,
        interface=nla.get("IPVS_DAEMON_ATTR_MCAST_IFN") or "",
        syncid=nla.get("IPVS_DAEMON_ATTR_SYNC_ID") or 0,
        maxlen=nla.get("IPVS_DAEMON_ATTR_SYNC_MAXLEN") or 0,
        group=nla.get("IPVS_DAEMON_ATTR_MCAST_GROUP") or nla.get("IPVS_DAEMON_ATTR_MCAST_GROUP6") or "",
        port=nla.get("IPVS_DAEMON_ATTR_MCAST_PORT") or 0,
        ttl=nla.get("IPVS_DAEMON_ATTR_MCAST_TTL") or 0,
    )


def _netlink_fd_in_netns(netns: str) -> int:
    """A generic-netlink socket created inside ``netns``; returns its fd.

    setns() moves only the calling thread, so a short-lived thread does it;
    pyroute2's own netns support forks a helper process instead, which a
    threaded daemon is better without.  A socket stays in the namespace it
    was created in.  A missing namespace is an error, never created.
    """
    import ctypes
    import threading

    result: dict[str, Any] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{netns}") as f:
                if libc.setns(f.fileno(), 0x40000000) != 0:    # CLONE_NEWNET
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns}: {os.strerror(err)}")
            result["fd"] = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 16).detach()  # NETLINK_GENERIC
        except BaseException as exc:  # handed to the caller's thread
            result["exc"] = exc

    t = threading.Thread(target=target, name=f"ipvs-netns-{netns}")
    t.start()
    t.join()
    if "exc" in result:
        raise result["exc"]
    return result["fd"]


def _close_quietly(sock: Any) -> None:
    if sock is not None:
        try:
            sock.close()
        except Exception:
            pass


def _version(code: int) -> str:
    return f"{(code >> 16) & 0xFF}.{(code >> 8) & 0xFF}.{code & 0xFF}"


# ------------------------------------------------------------------ backend

class IpvsKernel:
    """One generic-netlink IPVS socket (optionally inside a network namespace).

    Use as ``async with IpvsKernel(netns=...) as k:``.  Requests are
    serialised on one socket; each is a single short netlink round trip.
    """

    def __init__(self, netns: str | None = None):
        self.netns = netns
        self._sock: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> "IpvsKernel":
        from pyroute2.ipvs import AsyncIPVS
        from pyroute2.netlink.exceptions import NetlinkError

        sock = None
        try:
            kw: dict[str, Any] = {}
            if self.netns is not None:
                kw["fileno"] = _netlink_fd_in_netns(self.netns)
            sock = AsyncIPVS(**kw)
            await sock.setup_endpoint()
        except NetlinkError as exc:
            _close_quietly(sock)
            if exc.code in (errno.ENOENT, errno.ENOTSUP, errno.EPROTONOSUPPORT):
                raise IpvsUnavailable("IPVS unavailable: the kernel has no ip_vs "
                                      f"(generic netlink family IPVS not found, errno {exc.code})",
                                      exc.code) from None
            raise IpvsError(f"cannot open the IPVS netlink socket: {exc}", exc.code) from None
        except OSError as exc:
            _close_quietly(sock)
            raise IpvsError(f"cannot open the IPVS netlink socket: {exc}", exc.errno or 0) from None
        self._sock = sock
        return self

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> "IpvsKernel":
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, what: str, fn, *args):
        from pyroute2.netlink.exceptions import NetlinkError

        if self._sock is None:
            raise IpvsError("IPVS socket is not open")
        async with self._lock:
            try:
                return await fn(*args)
            except NetlinkError as exc:
                raise IpvsError(f"{what}: {exc.args[1] if len(exc.args) > 1 else exc} "
                                f"(errno {exc.code})", exc.code) from None

    async def _ctl(self, what: str, cmd: int, attrs: list, *, dump: bool = False) -> list:
        """One request of the commands pyroute2 does not cover, replies parsed as _CtlMsg."""
        from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST
        from pyroute2.netlink.generic.ipvs import GENL_VERSION

        cls = _ctl_msg_class()
        sock = self._sock

        async def request():
            saved = sock.marshal.msg_map[sock.prid]
            sock.marshal.msg_map[sock.prid] = cls
            try:
                msg = cls()
                msg["cmd"] = cmd
                msg["version"] = GENL_VERSION
                msg["attrs"] = attrs
                flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
                return await sock._do_request(msg, msg_flags=flags)
            finally:
                sock.marshal.msg_map[sock.prid] = saved

        return await self._call(what, request)

    # ---------------------------------------------------------------- reads

    async def info(self) -> tuple[str, int]:
        """(IPVS version, connection table size) as ipvsadm's header shows them."""
        from pyroute2.netlink import NLM_F_REQUEST, genlmsg
        from pyroute2.netlink.generic.ipvs import GENL_VERSION

        class InfoMsg(genlmsg):
            nla_map = (
                ("IPVS_INFO_ATTR_UNSPEC", "none"),
                ("IPVS_INFO_ATTR_VERSION", "uint32"),
                ("IPVS_INFO_ATTR_CONN_TAB_SIZE", "uint32"),
            )

        sock = self._sock

        async def request():
            # GET_INFO replies with attributes the IPVS message class does not
            # describe: parse this one reply with a class that does.
            saved = sock.marshal.msg_map[sock.prid]
            sock.marshal.msg_map[sock.prid] = InfoMsg
            try:
                msg = InfoMsg()
                msg["cmd"] = IPVS_CMD_GET_INFO
                msg["version"] = GENL_VERSION
                return await sock._do_request(msg, msg_flags=NLM_F_REQUEST)
            finally:
                sock.marshal.msg_map[sock.prid] = saved

        replies = await self._call("get info", request)
        for m in replies:
            version = m.get("IPVS_INFO_ATTR_VERSION")
            if version is not None:
                return _version(version), m.get("IPVS_INFO_ATTR_CONN_TAB_SIZE") or 0
        raise IpvsError("get info: the kernel sent no version")

    async def services(self) -> list[ServiceStatus]:
        """Every service with its destinations, in kernel order."""
        from pyroute2.ipvs import IPVSService

        out = []
        for msg in await self._call("dump services", self._sock.service, "dump"):
            svc, stats = service_from_nla(msg.get("IPVS_CMD_ATTR_SERVICE"))
            key_obj = IPVSService(**service_fields(svc.key))
            dmsgs = await self._call(f"dump dests of {svc.key}", self._sock.dest, "dump", key_obj)
            dests = tuple(dest_from_nla(m.get("IPVS_CMD_ATTR_DEST")) for m in dmsgs)
            out.append(ServiceStatus(svc, dests, stats))
        return out

    async def snapshot(self) -> Snapshot:
        version, size = await self.info()
        return Snapshot(tuple(await self.services()), version, size)

    async def dests(self, key: ServiceKey) -> list[DestStatus]:
        from pyroute2.ipvs import IPVSService

        msgs = await self._call(f"dump dests of {key}", self._sock.dest, "dump",
                                IPVSService(**service_fields(key)))
        return [dest_from_nla(m.get("IPVS_CMD_ATTR_DEST")) for m in msgs]

    async def get_dest(self, key: ServiceKey, dest: DestKey) -> DestStatus | None:
        for d in await self.dests(key):
            if d.key == dest:
                return d
        return None

    async def daemons(self) -> list[SyncDaemon]:
        """The running connection-sync daemons (``ipvsadm -L --daemon``)."""
        out = []
        for m in await self._ctl("list sync daemons", IPVS_CMD_GET_DAEMON, [], dump=True):
            nla = m.get("IPVS_CMD_ATTR_DAEMON")
            d = daemon_from_nla(nla) if nla is not None else None
            if d is not None:
                out.append(d)
        return out

    async def timeouts(self) -> Timeouts:
        """tcp / tcpfin / udp connection timeouts (``ipvsadm -L --timeout``)."""
        replies = await self._ctl("get timeouts", IPVS_CMD_GET_CONFIG, [])
        for m in replies:
            if m.get("IPVS_CMD_ATTR_TIMEOUT_TCP") is not None or m.get("IPVS_CMD_ATTR_TIMEOUT_UDP") is not None:
                return Timeouts(m.get("IPVS_CMD_ATTR_TIMEOUT_TCP") or 0, m.get("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN") or 0,
                                m.get("IPVS_CMD_ATTR_TIMEOUT_UDP") or 0)
        raise IpvsError("get timeouts: the kernel sent none")

    # ---------------------------------------------------------------- writes

    async def start_daemon(self, d: SyncDaemon) -> None:
        await self._ctl(f"start {d.state} sync daemon on {d.interface}", IPVS_CMD_NEW_DAEMON,
                        [("IPVS_CMD_ATTR_DAEMON", {"attrs": daemon_attrs(d)})])

    async def stop_daemon(self, state: str) -> None:
        await self._ctl(f"stop {state} sync daemon", IPVS_CMD_DEL_DAEMON,
                        [("IPVS_CMD_ATTR_DAEMON", {"attrs": [("IPVS_DAEMON_ATTR_STATE", SYNC_STATES[state])]})])

    async def set_timeouts(self, t: Timeouts) -> None:
        """Set the non-zero ones; the others keep their value (as ``ipvsadm --set`` with 0)."""
        attrs = [(name, v) for name, v in (("IPVS_CMD_ATTR_TIMEOUT_TCP", t.tcp),
                                           ("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN", t.tcpfin),
                                           ("IPVS_CMD_ATTR_TIMEOUT_UDP", t.udp)) if v]
        if attrs:
            await self._ctl(f"set timeouts {t.tcp} {t.tcpfin} {t.udp}", IPVS_CMD_SET_CONFIG, attrs)

    async def flush(self) -> None:
        """Every service and destination of this namespace, ours or not (``ipvsadm -C``)."""
        await self._ctl("flush", IPVS_CMD_FLUSH, [])

    async def add_service(self, svc: Service) -> None:
        from pyroute2.ipvs import IPVSService

        await self._call(f"add service {svc.key}", self._sock.service, "add",
                         IPVSService(**service_fields(svc)))

    async def edit_service(self, svc: Service) -> None:
        from pyroute2.ipvs import IPVSService

        await self._call(f"edit service {svc.key}", self._sock.service, "set",
                         IPVSService(**service_fields(svc)))

    async def del_service(self, key: ServiceKey) -> None:
        from pyroute2.ipvs import IPVSService

        await self._call(f"delete service {key}", self._sock.service, "del",
                         IPVSService(**service_fields(key)))

    async def add_dest(self, key: ServiceKey, dest: Dest) -> None:
        from pyroute2.ipvs import IPVSDest, IPVSService

        await self._call(f"add dest {dest.key} to {key}", self._sock.dest, "add",
                         IPVSService(**service_fields(key)), IPVSDest(**dest_fields(dest)))

    async def edit_dest(self, key: ServiceKey, dest: Dest) -> None:
        """Replace a destination's settings (all of them: see module notes)."""
        from pyroute2.ipvs import IPVSDest, IPVSService

        await self._call(f"edit dest {dest.key} of {key}", self._sock.dest, "set",
                         IPVSService(**service_fields(key)), IPVSDest(**dest_fields(dest)))

    async def del_dest(self, key: ServiceKey, dest: DestKey | Dest) -> None:
        from pyroute2.ipvs import IPVSDest, IPVSService

        dkey = dest.key if isinstance(dest, Dest) else dest
        await self._call(f"delete dest {dkey} of {key}", self._sock.dest, "del",
                         IPVSService(**service_fields(key)), IPVSDest(**dest_fields(dkey)))

    async def set_weight(self, key: ServiceKey, dest: DestKey, weight: int) -> Dest:
        """Change only the weight, keeping the forwarding method and thresholds."""
        current = await self.get_dest(key, dest)
        if current is None:
            raise IpvsError(f"set weight: {dest} is not a destination of {key}", errno.ENOENT)
        new = with_weight(current.dest, weight)
        await self.edit_dest(key, new)
        return new


def read_snapshot(netns: str | None = None) -> Snapshot:
    """Synchronous one-shot dump for command-line tools (not inside a loop)."""

    async def main() -> Snapshot:
        async with IpvsKernel(netns) as k:
            return await k.snapshot()

    return asyncio.run(main())


def read_extras(netns: str | None = None) -> tuple[list[SyncDaemon], Timeouts]:
    """Synchronous one-shot read of the sync daemons and the timeouts (command-line tools)."""

    async def main() -> tuple[list[SyncDaemon], Timeouts]:
        async with IpvsKernel(netns) as k:
            return await k.daemons(), await k.timeouts()

    return asyncio.run(main())


__all__ = [
    "IpvsError", "IpvsUnavailable", "IpvsKernel", "read_snapshot", "read_extras",
    "service_from_nla", "dest_from_nla", "service_fields", "dest_fields", "daemon_attrs", "daemon_from_nla",
]
