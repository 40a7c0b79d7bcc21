"""engine.net.addrmsg: the address requests VipManager sends on its own
socket, read back with pyroute2's own decoder (the library the bytes must
agree with), and the acknowledgements matched to their request."""

from __future__ import annotations

import socket
import struct

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from vipdeck.engine.net import addrmsg


def decoded(data: bytes, seq: int = 7):
    buf = bytearray(data)
    struct.pack_into("=I", buf, 8, seq)
    msg = ifaddrmsg(bytes(buf))
    msg.decode()
    return msg


def test_an_ipv4_add_is_what_pyroute2_sends_with_label_broadcast_and_scope():
    msg = decoded(addrmsg.encode(True, socket.AF_INET, "198.18.5.100", 24, 3, 253, "eth0:0", "198.18.5.255"))
    h = msg["header"]
    assert (h["type"], h["sequence_number"], h["length"]) == (addrmsg.RTM_NEWADDR, 7, len(msg.data))
    assert h["flags"] == addrmsg.NLM_F_REQUEST | addrmsg.NLM_F_ACK | addrmsg.NLM_F_CREATE | addrmsg.NLM_F_EXCL
    assert (msg["family"], msg["prefixlen"], msg["scope"], msg["index"], msg["flags"]) == (socket.AF_INET, 24, 253, 3, 0)
    assert msg.get_attr("IFA_LOCAL") == msg.get_attr("IFA_ADDRESS") == "198.18.5.100"
    assert msg.get_attr("IFA_LABEL") == "eth0:0"
    assert msg.get_attr("IFA_BROADCAST") == "198.18.5.255"
    assert msg.get_attr("IFA_FLAGS") is None


def test_an_ipv6_add_carries_its_flags_and_no_local_and_a_removal_is_a_plain_request():
    msg = decoded(addrmsg.encode(True, socket.AF_INET6, "2001:db8::100", 128, 5, flags=0x02))
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (socket.AF_INET6, 128, 5)
    assert msg.get_attr("IFA_ADDRESS") == "2001:db8::100" and msg.get_attr("IFA_LOCAL") is None
    assert msg.get_attr("IFA_FLAGS") == 0x02
    gone = decoded(addrmsg.encode(False, socket.AF_INET, "198.18.0.101", 32, 2))
    assert gone["header"]["type"] == addrmsg.RTM_DELADDR
    assert gone["header"]["flags"] == addrmsg.NLM_F_REQUEST | addrmsg.NLM_F_ACK
    assert gone.get_attr("IFA_LOCAL") == "198.18.0.101" and gone.get_attr("IFA_LABEL") is None


def nlmsgerr(seq: int, error: int) -> bytes:
    original = struct.pack("=IHHII", 16, addrmsg.RTM_NEWADDR, 0, seq, 0)
    return struct.pack("=IHHII", 16 + 4 + 16, addrmsg.NLMSG_ERROR, 0, seq, 0) + struct.pack("=i", error) + original


def test_an_answer_is_read_for_its_own_request_only():
    assert addrmsg.answer(nlmsgerr(5, 0), 5) == 0                      # the acknowledgement
    assert addrmsg.answer(nlmsgerr(5, -17), 5) == 17                   # EEXIST
    assert addrmsg.answer(nlmsgerr(4, -17), 5) is None                 # a late answer to an earlier one
    assert addrmsg.answer(nlmsgerr(4, 0) + nlmsgerr(5, -99), 5) == 99  # several in one read
    assert addrmsg.answer(b"\0" * 8, 5) is None                        # too short to be anything


def test_a_socket_failure_names_the_vip(monkeypatch):
    """The socket failing under a request (ENOBUFS, no answer) is not the
    kernel's answer to it: VipManager says which VIP it was adding or removing,
    as it does for the kernel's own refusals (the event names the VIP)."""
    import asyncio
    import errno

    import pytest

    from vipdeck.engine.net.vips import Vip, VipManager

    async def failing(self, message, timeout=5.0):
        raise OSError(errno.ENOBUFS, "No buffer space available")

    async def index(self, dev):
        return 2

    monkeypatch.setattr(addrmsg.AddrSocket, "request", failing)
    monkeypatch.setattr(VipManager, "_index", index)

    async def main():
        vm = VipManager()
        for op, verb in ((vm.add, "adding"), (vm.remove, "removing")):
            with pytest.raises(OSError) as info:
                await op(Vip("198.18.0.10", 32, "eth0"))
            assert info.value.errno == errno.ENOBUFS
            assert str(info.value) == f"[Errno {errno.ENOBUFS}] {verb} 198.18.0.10/32 dev eth0: No buffer space available"
    asyncio.run(main())
