"""VRRP advertisement wire format: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798/9568).

This module sits on the hot path (every advert sent or received by every
instance), so it is plain ``struct`` and ``ipaddress`` and never imports scapy.

Decoding never raises: any byte string yields either an :class:`Advert` or a
:class:`Reject` whose :class:`RejectReason` value is a stable snake_case name
the driver can use as a counter key, and whose ``detail`` names the field and
the values so an operator can see *why* a packet was dropped.  Checks are
split in two on purpose:

* :func:`decode_ipv4` / :func:`decode_vrrp` apply the rules that hold for every
  packet (TTL/hop limit, version, type, length, checksum, interval sanity);
* :func:`check_vrid` is the dispatcher's "is this VRID ours at all" test;
* :func:`validate` applies one instance's configuration (version, auth,
  v2 interval, optionally the address list).

Secrets: ``Advert.auth_data`` (the VRRPv2 simple password) is left out of
``repr`` and no reject detail ever quotes it, so adverts and rejects can be
logged as they are.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
import sys
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton     # address conversions only: no I/O

IPPROTO_VRRP = 112
IPPROTO_AH = 51
VRRP_TTL = 255
TYPE_ADVERTISEMENT = 1

AUTH_NONE = 0
AUTH_PASS = 1
AUTH_AH = 2

AUTH_DATA_LEN = 8
V2_MAX_INTERVAL = 255          # seconds, one byte
V3_MAX_INTERVAL_CS = 0x0FFF    # centiseconds, 12 bits

_HDR = struct.Struct("!BBBBBBH")      # v2: ver/type vrid prio count authtype adver cksum
_HDR3 = struct.Struct("!BBBBHH")      # v3: ver/type vrid prio count rsvd|maxadver cksum
_HEADER_LEN = 8
_AF_INET, _AF_INET6 = AF_INET, AF_INET6
_ntop, _pton = inet_ntop, inet_pton
_LITTLE = sys.byteorder == "little"


class RejectReason(enum.Enum):
    """Why a received packet was dropped; values are counter names."""

    IP_HEADER = "ip_header"              # not a usable IPv4 header / not protocol 112
    TTL = "ttl"                          # TTL or hop limit is not 255
    TRUNCATED = "truncated"              # fewer bytes than the headers need
    VERSION = "version"                  # not 2/3, v2 over IPv6, or not the configured one
    TYPE = "type"                        # not an Advertisement (type 1)
    LENGTH = "length"                    # length does not match the address count
    CHECKSUM = "checksum"
    INTERVAL = "interval"                # advert interval 0
    ADDR_FAMILY = "addr_family"          # src/dst unusable or of the wrong family
    VRID_UNKNOWN = "vrid_unknown"        # no instance here uses this VRID
    AUTH_TYPE = "auth_type"              # auth type differs from ours / unknown
    AUTH_UNSUPPORTED = "auth_unsupported"  # IPsec AH (auth type 2 / protocol 51)
    AUTH_MISMATCH = "auth_mismatch"      # simple password differs
    INTERVAL_MISMATCH = "interval_mismatch"  # v2 interval differs from ours (RFC 3768 7.1)
    ADDRESSES = "addresses"              # address list differs from our VIPs (optional check)
    UNICAST_SRC = "unicast_src"          # check_unicast_src: the source is not one of our unicast peers


@dataclass(frozen=True)
class Reject:
    """A dropped packet, with whatever was parsed before the failing check."""

    reason: RejectReason
    detail: str
    src: str | None = None
    dst: str | None = None
    vrid: int | None = None
    version: int | None = None

    def __str__(self) -> str:
        who = f" from {self.src}" if self.src else ""
        vr = f" vrid {self.vrid}" if self.vrid is not None else ""
        return f"rejected{who}{vr}: {self.reason.value}: {self.detail}"


@dataclass(frozen=True)
class Advert:
    """One VRRP advertisement.

    ``interval`` is in seconds (v2: whole seconds; v3: multiples of 0.01).
    ``src``, ``dst`` and ``ttl`` are filled in when the advert was decoded
    from the wire (``ttl`` is the hop limit for IPv6).
    """

    version: int
    vrid: int
    priority: int
    interval: float
    addresses: tuple[str, ...]
    auth_type: int = AUTH_NONE
    auth_data: bytes = field(default=b"", repr=False)
    src: str | None = None
    dst: str | None = None
    ttl: int | None = None

    @property
    def family(self) -> int:
        """4 or 6, from the source address when known, else from the addresses."""
        probe = self.src or (self.addresses[0] if self.addresses else "")
        return 6 if ":" in probe else 4

    @property
    def interval_cs(self) -> int:
        """The interval in centiseconds (exact; the machine computes timers from it)."""
        return round(self.interval * 100)


def pass_auth_data(auth_pass: str) -> bytes:
    """VRRPv2 simple-password field: keepalived uses the first 8 bytes, NUL padded."""
    raw = auth_pass.encode("utf-8")[:AUTH_DATA_LEN]
    return raw.ljust(AUTH_DATA_LEN, b"\0")


def checksum(data: bytes) -> int:
    """Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(memoryview(data).cast("H"))      # native order; folded and swapped below
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    if _LITTLE:
        total = ((total & 0xFF) << 8) | (total >> 8)
    return ~total & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    return src + dst + struct.pack("!I3xB", length, IPPROTO_VRRP)


def _pack_addr(value: str, family: int, what: str) -> bytes:
    try:
        return _pton(_AF_INET if family == 4 else _AF_INET6, value)
    except (OSError, TypeError, ValueError):
        pass
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not an IP address") from None
    raise ValueError(f"{what}: {value} is not an IPv{family} address")


def encode(advert: Advert, src: str | None = None, dst: str | None = None) -> bytes:
    """The VRRP payload of ``advert`` (the kernel writes the IP header).

    ``src``/``dst`` are the IP addresses the packet will carry; VRRPv3 needs
    them for the checksum pseudo-header, VRRPv2 ignores them.  Raises
    ``ValueError`` naming the offending field.
    """
    v = advert.version
    if v not in (2, 3):
        raise ValueError(f"version: {v} (must be 2 or 3)")
    if not 1 <= advert.vrid <= 255:
        raise ValueError(f"vrid: {advert.vrid} (must be 1..255)")
    if not 0 <= advert.priority <= 255:
        raise ValueError(f"priority: {advert.priority} (must be 0..255)")
    if len(advert.addresses) > 255:
        raise ValueError(f"addresses: {len(advert.addresses)} (at most 255)")
    family = advert.family
    if v == 2 and family != 4:
        raise ValueError("version: VRRPv2 carries IPv4 addresses only")
    addrs = b"".join(_pack_addr(a, family, "addresses") for a in advert.addresses)
    count = len(advert.addresses)
    if v == 2:
        iv = advert.interval
        if iv != int(iv) or not 1 <= iv <= V2_MAX_INTERVAL:
            raise ValueError(f"interval: {iv} (VRRPv2 needs whole seconds 1..255)")
        if advert.auth_type not in (AUTH_NONE, AUTH_PASS):
            raise ValueError(f"auth_type: {advert.auth_type} (only 0 and 1 can be sent)")
        auth = advert.auth_data[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\0") \
            if advert.auth_type == AUTH_PASS else bytes(AUTH_DATA_LEN)
        body = _HDR.pack(0x21, advert.vrid, advert.priority, count, advert.auth_type, int(iv), 0) + addrs + auth
        ck = checksum(body)
    else:
        cs = advert.interval_cs
        if not 1 <= cs <= V3_MAX_INTERVAL_CS or abs(cs - advert.interval * 100) > 1e-6:
            raise ValueError(f"interval: {advert.interval} (VRRPv3 needs 0.01..40.95 s in 0.01 s steps)")
        if src is None or dst is None:
            raise ValueError("src/dst: VRRPv3 needs both for the checksum pseudo-header")
        s = _pack_addr(src, family, "src")
        d = _pack_addr(dst, family, "dst")
        body = _HDR3.pack(0x31, advert.vrid, advert.priority, count, cs, 0) + addrs
        ck = checksum(_pseudo_header(s, d, len(body)) + body)
    return body[:6] + struct.pack("!H", ck) + body[8:]


def decode_ipv4(packet: bytes, *, expect_ttl: int | None = VRRP_TTL) -> Advert | Reject:
    """Decode what an IPv4 raw socket delivers (IP header + VRRP).

    ``expect_ttl=None`` skips the TTL check (keepalived does so for unicast peers).
    """
    n = len(packet)
    if n < 20:
        return Reject(RejectReason.TRUNCATED, f"IPv4 header needs 20 bytes, got {n}")
    if packet[0] >> 4 != 4:
        return Reject(RejectReason.IP_HEADER, f"IP version {packet[0] >> 4} != 4")
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20:
        return Reject(RejectReason.IP_HEADER, f"IPv4 header length {ihl} < 20")
    tot_len = (packet[2] << 8) | packet[3]
    src_b, dst_b = packet[12:16], packet[16:20]
    src, dst = _ntop(_AF_INET, src_b), _ntop(_AF_INET, dst_b)
    if n < ihl:
        return Reject(RejectReason.TRUNCATED, f"IPv4 header length {ihl} > packet length {n}", src, dst)
    if tot_len > n:
        return Reject(RejectReason.TRUNCATED, f"IPv4 total length {tot_len} > received {n}", src, dst)
    if ihl <= tot_len < n:
        packet = packet[:tot_len]      # link-layer padding
    proto = packet[9]
    if proto == IPPROTO_AH:
        return Reject(RejectReason.AUTH_UNSUPPORTED, "IPsec AH (protocol 51) is not supported", src, dst)
    if proto != IPPROTO_VRRP:
        return Reject(RejectReason.IP_HEADER, f"IP protocol {proto} != 112", src, dst)
    return _decode(packet[ihl:], 4, src_b, dst_b, src, dst, packet[8], expect_ttl)


def decode_vrrp(payload: bytes, src: str, dst: str, ttl: int | None,
                *, expect_ttl: int | None = VRRP_TTL) -> Advert | Reject:
    """Decode a VRRP payload whose IP addresses and TTL/hop limit are known.

    IPv6 raw sockets deliver no IP header: the driver passes the source from
    ``recvmsg``, the destination from IPV6_PKTINFO and the hop limit from
    IPV6_HOPLIMIT ancillary data.  ``ttl=None`` means "not known" and is
    rejected unless ``expect_ttl`` is None too.
    """
    packed = []
    for a in (src, dst):
        for fam, af in ((4, _AF_INET), (6, _AF_INET6)):
            try:
                packed.append((fam, af, _pton(af, a)))
                break
            except (OSError, TypeError, ValueError):
                continue
    s_txt = src if isinstance(src, str) else None
    d_txt = dst if isinstance(dst, str) else None
    if len(packed) != 2:
        return Reject(RejectReason.ADDR_FAMILY, f"src {src!r} / dst {dst!r} are not IP addresses", s_txt, d_txt)
    (fam, af, src_b), (dfam, _, dst_b) = packed
    src, dst = _ntop(af, src_b), _ntop(af if dfam == fam else packed[1][1], dst_b)
    if dfam != fam:
        return Reject(RejectReason.ADDR_FAMILY, f"src {src} and dst {dst} are of different families", src, dst)
    return _decode(payload, fam, src_b, dst_b, src, dst, ttl, expect_ttl)


def _decode(payload: bytes, family: int, src_b: bytes, dst_b: bytes, src: str, dst: str,
            ttl: int | None, expect_ttl: int | None) -> Advert | Reject:
    n = len(payload)
    if n < _HEADER_LEN:
        return Reject(RejectReason.TRUNCATED, f"VRRP header needs 8 bytes, got {n}", src, dst)
    ver_type, vrid, prio, count = payload[0], payload[1], payload[2], payload[3]
    version, ptype = ver_type >> 4, ver_type & 0x0F

    def rej(reason: RejectReason, detail: str) -> Reject:
        return Reject(reason, detail, src, dst, vrid, version)

    if expect_ttl is not None and ttl != expect_ttl:
        what = "hop limit" if family == 6 else "ttl"
        return rej(RejectReason.TTL, f"{what} {ttl} != {expect_ttl}")
    if version not in (2, 3):
        return rej(RejectReason.VERSION, f"version {version} is not 2 or 3")
    if version == 2 and family == 6:
        return rej(RejectReason.VERSION, "version 2 over IPv6 (VRRPv2 is IPv4 only)")
    if ptype != TYPE_ADVERTISEMENT:
        return rej(RejectReason.TYPE, f"type {ptype} != 1 (advertisement)")
    alen = 4 if family == 4 else 16
    expected = _HEADER_LEN + count * alen + (AUTH_DATA_LEN if version == 2 else 0)
    if n < expected:
        return rej(RejectReason.TRUNCATED, f"length {n} < {expected} for {count} address(es)")
    if n > expected:
        return rej(RejectReason.LENGTH, f"length {n} != {expected} for {count} address(es)")
    if version == 2:
        ck = checksum(payload)
    else:
        ck = checksum(_pseudo_header(src_b, dst_b, n) + payload)
    if ck != 0:
        got = (payload[6] << 8) | payload[7]
        return rej(RejectReason.CHECKSUM, f"checksum 0x{got:04x} is wrong (sum 0x{ck:04x} != 0)")
    af = _AF_INET if family == 4 else _AF_INET6
    end = _HEADER_LEN + count * alen
    addrs = tuple(_ntop(af, payload[i:i + alen]) for i in range(_HEADER_LEN, end, alen))
    if version == 2:
        auth_type, adver = payload[4], payload[5]
        if auth_type == AUTH_AH:
            return rej(RejectReason.AUTH_UNSUPPORTED, "auth type 2 (IPsec AH) is not supported")
        if auth_type not in (AUTH_NONE, AUTH_PASS):
            return rej(RejectReason.AUTH_TYPE, f"auth type {auth_type} is unknown")
        if adver == 0:
            return rej(RejectReason.INTERVAL, "advert interval 0 s")
        return Advert(2, vrid, prio, float(adver), addrs, auth_type, payload[end:expected], src, dst, ttl)
    cs = ((payload[4] << 8) | payload[5]) & V3_MAX_INTERVAL_CS
    if cs == 0:
        return rej(RejectReason.INTERVAL, "max advert interval 0 cs")
    return Advert(3, vrid, prio, cs / 100, addrs, AUTH_NONE, b"", src, dst, ttl)


def check_vrid(advert: Advert | Reject, known: Container[int]) -> Reject | None:
    """The dispatcher's test: is there an instance for this VRID on this socket?"""
    if isinstance(advert, Reject):
        return advert
    if advert.vrid in known:
        return None
    return Reject(RejectReason.VRID_UNKNOWN, f"vrid {advert.vrid} is not configured here",
                  advert.src, advert.dst, advert.vrid, advert.version)


def validate(advert: Advert, *, vrid: int, version: int, auth_type: int = AUTH_NONE,
             auth_pass: str | None = None, interval: float, family: int | None = None,
             addresses: Sequence[str] | None = None) -> Reject | None:
    """One instance's receive rules (RFC 3768 7.1, RFC 5798 7.1).

    ``interval`` is the configured advert_int; only VRRPv2 requires it to
    match (VRRPv3 backups learn the master's).  ``addresses`` (our VIPs)
    turns on the optional address-list check.  Password comparison is
    constant-time and the password never appears in the detail.
    """

    def rej(reason: RejectReason, detail: str) -> Reject:
        return Reject(reason, detail, advert.src, advert.dst, advert.vrid, advert.version)

    if advert.vrid != vrid:
        return rej(RejectReason.VRID_UNKNOWN, f"vrid {advert.vrid} != {vrid}")
    if advert.version != version:
        return rej(RejectReason.VERSION, f"version {advert.version} != configured {version}")
    if family is not None and advert.family != family:
        return rej(RejectReason.ADDR_FAMILY, f"IPv{advert.family} advert for an IPv{family} instance")
    if version == 2:
        if advert.auth_type != auth_type:
            return rej(RejectReason.AUTH_TYPE, f"auth type {advert.auth_type} != configured {auth_type}")
        if auth_type == AUTH_PASS:
            want = pass_auth_data(auth_pass or "")
            import hmac     # VRRPv2 PASS only: hmac brings hashlib and OpenSSL's (issue 13)

            if not hmac.compare_digest(advert.auth_data, want):
                return rej(RejectReason.AUTH_MISMATCH, "simple password does not match")
        if advert.interval_cs != round(interval * 100):
            return rej(RejectReason.INTERVAL_MISMATCH,
                       f"advert interval {advert.interval:g} s != configured {interval:g} s")
    if addresses is not None:
        try:
            ours = sorted(ipaddress.ip_address(a) for a in addresses)
            theirs = sorted(ipaddress.ip_address(a) for a in advert.addresses)
        except (ValueError, TypeError):
            ours, theirs = sorted(map(str, addresses)), sorted(advert.addresses)  # type: ignore[arg-type]
        if ours != theirs:
            return rej(RejectReason.ADDRESSES,
                       f"addresses {', '.join(advert.addresses) or '(none)'} != configured "
                       f"{', '.join(str(a) for a in addresses) or '(none)'}")
    return None
