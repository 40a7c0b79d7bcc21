"""Scrape a Prometheus endpoint inside a lab namespace, parsed with prometheus_client's parser."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

from vipdeck.engine.lab.netns import socket_in_netns


@dataclass
class Scrape:
    text: str
    families: dict      # name (without _total for counters) -> Metric
    content_type: str

    def samples(self, metric: str, /) -> list:
        return [s for f in self.families.values() for s in f.samples if s.name == metric]

    def value(self, metric: str, /, **labels: str) -> float | None:
        """The one sample of ``metric`` whose labels include ``labels``; None when absent."""
        hits = [s for s in self.samples(metric) if all(s.labels.get(k) == str(v) for k, v in labels.items())]
        assert len(hits) <= 1, f"{metric}{labels} matches {len(hits)} samples: {hits}"
        return hits[0].value if hits else None


def scrape(node, port: int, host: str = "127.0.0.1", path: str = "/metrics", timeout: float = 10) -> Scrape:
    """GET http://host:port/path from inside ``node``'s namespace."""
    from prometheus_client.parser import text_string_to_metric_families

    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket_in_netns(node.netns, fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.sock = s                       # already connected, in the namespace
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == 200, (resp.status, body[:500])
        ctype = resp.getheader("Content-Type", "")
    finally:
        conn.close()
    return Scrape(body, {f.name: f for f in text_string_to_metric_families(body)}, ctype)
