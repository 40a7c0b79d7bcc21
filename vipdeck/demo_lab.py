"""A self-built demo: the seed's dual-master LVS pair in namespaces.

Two vipdeck daemons (node1, node2) run the seed's dual-master config on lab
addresses, with two real web servers behind the seed's virtual servers and
a real keepalived (when installed) advertising a third VRID beside them, so
every console screen has something live to show.  Used by ``vipdeck demo``
and by the screenshot script.

Beside the command line, not in the engine: it composes the engine's lab
harness (``engine.lab``: namespaces, peers) with a demo's configuration, and
the engine never imports it (tests/unit/test_layers.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from vipdeck.engine.lab.netns import Lab, Node
from vipdeck.engine.lab.peers import Router, start_keepalived, start_vipdeck, vrrp_conf
from vipdeck.engine.lab.wait import wait_until

GROUP = "224.1.101.33"
VIP1, VIP2, VIP3 = "198.18.0.198", "198.18.0.197", "198.18.0.196"
RS = ("198.18.0.202", "198.18.0.203")
SORRY = "198.18.0.200"


def node_conf(router_id: str, first: bool, advert_int: float = 1) -> str:
    lvs = "".join(f"""
virtual_server {vip} 80 {{
    delay_loop 2
    lb_algo wrr
    lb_kind DR
    protocol TCP
    sorry_server {SORRY} 80
    real_server {RS[0]} 80 {{
        weight 1
        HTTP_GET {{
            url {{
                path /index.html
                status_code 200
            }}
            retry 2
            delay_before_retry 1
            connect_timeout 1
        }}
    }}
    real_server {RS[1]} 80 {{
        weight 1
        TCP_CHECK {{
            retry 2
            delay_before_retry 1
            connect_timeout 1
        }}
    }}
}}
""" for vip in (VIP1, VIP2))
    return vrrp_conf(router_id=router_id, mcast_group=GROUP, instances=[
        dict(name="VI_1", vrid=51, priority=100 if first else 96, state="MASTER" if first else "BACKUP",
             advert_int=advert_int, vips=[f"{VIP1} dev eth0 label eth0:0"], auth_pass="1111"),
        dict(name="VI_2", vrid=52, priority=96 if first else 98, state="BACKUP" if first else "MASTER",
             advert_int=advert_int, vips=[VIP2], auth_pass="2222"),
    ], extra=lvs)


@dataclass
class Demo:
    lab: Lab
    nodes: dict[str, Node]
    routers: dict[str, Router]

    @property
    def socket(self) -> str:
        return self.routers["node1"].socket_path

    def close(self) -> None:
        self.lab.close()


def web_server(node: Node, name: str) -> None:
    root = tempfile.mkdtemp(prefix=f"{node.netns}-www-")
    node.lab.on_close(lambda: shutil.rmtree(root, ignore_errors=True))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(f"{name}\n")
    node.popen(sys.executable, "-m", "http.server", "80", "--bind", node.ip, "--directory", root,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build(with_keepalived: bool = True, advert_int: float = 1, prefix: str | None = None) -> Demo:
    """The demo lab; its namespaces are named ``PREFIX-node1`` ... (a fresh prefix when None)."""
    lab = Lab(prefix)
    try:
        n1 = lab.add_node("node1", "198.18.0.1/24")
        n2 = lab.add_node("node2", "198.18.0.2/24")
        rs3 = lab.add_node("node3", f"{RS[0]}/24")
        rs4 = lab.add_node("node4", f"{RS[1]}/24")
        web_server(rs3, "node3")
        web_server(rs4, "node4")
        routers = {
            "node1": start_vipdeck(n1, node_conf("node1", True, advert_int), extra_args=()),
            "node2": start_vipdeck(n2, node_conf("node2", False, advert_int), extra_args=()),
        }
        nodes = {"node1": n1, "node2": n2, "node3": rs3, "node4": rs4}
        if with_keepalived and shutil.which("keepalived"):
            ka = lab.add_node("ka", "198.18.0.5/24")
            routers["keepalived"] = start_keepalived(ka, vrrp_conf(
                router_id="ka", mcast_group=GROUP, instances=[dict(
                    name="VI_3", vrid=53, priority=150, state="MASTER", advert_int=advert_int,
                    vips=[VIP3], auth_pass="3333")]))
            nodes["ka"] = ka
        wait_until(lambda: n1.has_address(VIP1) and n2.has_address(VIP2), 15, what="demo VIPs up")
        return Demo(lab, nodes, routers)
    except BaseException:
        lab.close()
        raise
