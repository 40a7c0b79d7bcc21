"""Fixtures for tests that run *inside* the user-mode Linux guest.

Files here are named ``guest_*.py`` so the host's pytest never collects them;
``tests/uml/test_uml_ipvs.py`` boots one guest and runs them all with
``-o python_files=guest_*.py``, then reports each result on the host.  To add
a guest test, drop a ``guest_<topic>.py`` file here: it can use the host
fixtures (``lab``...) and the ones below.

The guest is a fresh kernel with ip_vs loaded, its own tmpfs on /run and
/tmp (namespaces and temporary files stay in guest memory), and the host's
file system read-write underneath: write only to ``tmp_path``.
"""

from __future__ import annotations

import os

import pytest

IN_GUEST = os.environ.get("VIPDECK_IN_UML") == "1"


def pytest_collection_modifyitems(config, items):
    # Collected on the host by hand (e.g. pytest tests/uml/guest/guest_x.py):
    # these would program the host's kernel, so refuse loudly.
    if IN_GUEST:
        return
    for item in items:
        if str(item.fspath).startswith(os.path.dirname(__file__)):
            item.add_marker(pytest.mark.skip(reason="guest test: runs only inside user-mode Linux "
                                                    "(see tests/uml/test_uml_ipvs.py)"))


@pytest.fixture
def director(lab):
    """A director node with two lab subnets and IPv6, forwarding enabled.

    198.18.0.0/24 is the real-server side, 198.19.0.0/24 the client side;
    both sit on the one lab bridge, so the director must not send ICMP
    redirects (real servers must keep replying through it for NAT).
    """
    node = lab.add_node("director", ["198.18.0.1/24", "198.19.0.1/24", "2001:db8::1/64"])
    for key, value in (("net.ipv4.ip_forward", "1"),
                       ("net.ipv4.conf.all.send_redirects", "0"),
                       ("net.ipv4.conf.eth0.send_redirects", "0")):
        node.run("sysctl", "-qw", f"{key}={value}", check=False)
    return node


@pytest.fixture
async def kernel(director):
    from vipdeck.engine.ipvs.kernel import IpvsKernel

    async with IpvsKernel(netns=director.netns) as k:
        yield k
