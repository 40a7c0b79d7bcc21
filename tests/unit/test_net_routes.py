"""keepalived's virtual_routes / virtual_rules lines as iproute2 commands.

The lab test (tests/lab/test_lab_vrrp.py) checks them in a real kernel; here
the translation of keepalived's own words is pinned down.
"""

from vipdeck.engine.config.model import RouteSpec
from vipdeck.engine.net.routes import route_argv, rule_argv


def spec(text: str) -> RouteSpec:
    return RouteSpec(words=tuple(text.split()))


def test_routes_become_ip_route_replace_and_del():
    assert route_argv(spec("src 198.18.0.199 198.19.7.0/24 via 198.18.0.254 dev eth0 table 100 no_track"), True) == [
        "ip", "-4", "route", "replace", "src", "198.18.0.199", "198.19.7.0/24", "via", "198.18.0.254",
        "dev", "eth0", "table", "100"]
    assert route_argv(spec("default gw 198.18.0.254 metric 5"), False) == [
        "ip", "-4", "route", "del", "default", "via", "198.18.0.254", "metric", "5"]


def test_or_is_a_second_nexthop_and_ipv6_is_found():
    assert route_argv(spec("198.19.8.0/24 via 198.18.0.254 or 198.18.0.253"), True)[4:] == [
        "198.19.8.0/24", "nexthop", "via", "198.18.0.254", "nexthop", "via", "198.18.0.253"]
    assert route_argv(spec("blackhole 2001:db8:9::/48"), True)[:4] == ["ip", "-6", "route", "replace"]
    assert route_argv(spec("inet6 default via 2001:db8::1"), True) == ["ip", "-6", "route", "replace", "default",
                                                                       "via", "2001:db8::1"]


def test_rules_become_ip_rule_add_and_del():
    assert rule_argv(spec("from 198.18.0.199 table 100 priority 100"), True) == [
        "ip", "-4", "rule", "add", "from", "198.18.0.199", "table", "100", "priority", "100"]
    assert rule_argv(spec("to 2001:db8:5::/64 table 7 no_track"), False) == [
        "ip", "-6", "rule", "del", "to", "2001:db8:5::/64", "table", "7"]
