"""Lab versions of the seed configs: same shape, lab interface and addresses.

The seed runs on ens34 with 192.168.1.x; the labs use eth0 and 198.18.0.x
(the only addresses a lab may use).  Everything else (priorities, VRIDs,
mcast group, auth, notify arguments, tracking) is kept as the seed has it.
"""

from __future__ import annotations

from vipdeck.engine.lab.peers import instance, start_vipdeck, vrrp_conf
from vipdeck.engine.lab.wait import wait_until

SEED_GROUP = "224.1.101.33"
VIP1 = "198.18.0.199"      # the seed's 192.168.1.199
VIP_VI1 = "198.18.0.198"   # dual-master VI_1 (seed 192.168.1.198)
VIP_VI2 = "198.18.0.197"   # dual-master VI_2 (seed 192.168.1.197)


def seed_pair(router_id: str, priority: int, state: str, *, version: int | None = None,
              advert_int: float = 1, notify: dict | None = None, more: list[str] | None = None,
              global_extra: str = "", group: str | None = SEED_GROUP) -> str:
    """node1-master.conf / node2-backup.conf."""
    return vrrp_conf(router_id=router_id, mcast_group=group, version=version, global_extra=global_extra,
                     instances=[dict(name="VI_1", vrid=51, priority=priority, state=state,
                                     advert_int=advert_int, vips=[VIP1],
                                     auth_pass=None if version == 3 else "1111",  # v3 has no auth
                                     notify=notify or {}, more=more or [])])


def dual_master(router_id: str, first: bool, *, version: int | None = 3, advert_int: float = 0.1) -> str:
    """dual-master-lvs.conf's VRRP half: node1 masters VI_1, node2 masters VI_2."""
    return vrrp_conf(router_id=router_id, mcast_group=SEED_GROUP, version=version, instances=[
        dict(name="VI_1", vrid=51, priority=100 if first else 96, state="MASTER" if first else "BACKUP",
             advert_int=advert_int, vips=[f"{VIP_VI1} dev eth0 label eth0:0"], auth_pass="1111" if version == 2 else None),
        dict(name="VI_2", vrid=52, priority=96 if first else 98, state="BACKUP" if first else "MASTER",
             advert_int=advert_int, vips=[VIP_VI2], auth_pass="2222" if version == 2 else None),
    ])


def nginx_track(router_id: str, down_file: str, nginx_name: str = "nginx") -> str:
    """nginx-track.conf: chk_down (weight -20) and chk_nginx (weight -3, fall 2 rise 2)."""
    scripts = f'''
vrrp_script chk_down {{
    script "/bin/sh -c '[ -f {down_file} ] && exit 1 || exit 0'"
    interval 1
    weight -20
    fall 1
    rise 1
}}
vrrp_script chk_nginx {{
    script "pidof {nginx_name} && exit 0 || exit 1"
    interval 1
    weight -3
    fall 2
    rise 2
}}
'''
    return vrrp_conf(router_id=router_id, mcast_group=SEED_GROUP, scripts=scripts, instances=[
        dict(name="VI_1", vrid=51, priority=100, state="MASTER", vips=[f"{VIP_VI1}/24"], auth_pass="1111",
             track_script=["chk_down", "chk_nginx"])])


def backups(*instances: tuple[str, int, int], router_id: str = "node1", extra: str = "") -> str:
    """Instances (name, vrid, priority), all state BACKUP, advert_int 1, VIP 198.18.0.<100+vrid>/32."""
    return vrrp_conf(router_id=router_id, extra=extra, instances=[
        dict(name=n, vrid=v, priority=p, state="BACKUP", advert_int=1, vips=[f"198.18.0.{100 + v}/32"])
        for n, v, p in instances])


CHK_OK = """
vrrp_script chk_ok {
    script "/bin/true"
    interval 1
    weight 2
}
"""


def tcp_lvs(vip: str, *servers: str, weight: int | None = None) -> str:
    """A virtual_server on ``vip``:80 (rr, DR) with a TCP_CHECK per real server."""
    w = f"        weight {weight}\n" if weight is not None else ""
    reals = "".join(f"""    real_server {rs} 80 {{
{w}        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
""" for rs in servers)
    return f"""
virtual_server {vip} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
{reals}}}
"""


def dual_master_pair(lab):
    """Two vipdeck daemons in the seed's dual-master layout, settled: node1
    (198.18.0.1) master of VI_1, node2 (198.18.0.2) of VI_2.  Returns
    (n1, n2, r1, r2)."""
    n1 = lab.add_node("n1", "198.18.0.1/24")
    n2 = lab.add_node("n2", "198.18.0.2/24")
    r1 = start_vipdeck(n1, dual_master("node1", True))
    r2 = start_vipdeck(n2, dual_master("node2", False))
    wait_until(lambda: n1.has_address(VIP_VI1) and n2.has_address(VIP_VI2)
               and instance(r1, "VI_2")["state"] == "BACKUP" and instance(r2, "VI_1")["state"] == "BACKUP", 15,
               what="node1 master of VI_1, node2 of VI_2")
    return n1, n2, r1, r2
