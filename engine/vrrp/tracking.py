"""Trackers → per-instance priority effect (placeholder until the tracker engine lands)."""

from __future__ import annotations


class Tracking:
    def __init__(self, engine):
        self.engine = engine

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def reload(self, old, new) -> None:
        pass

    def effect(self, inst) -> tuple[int, bool, str]:
        return 0, False, ""

    def describe(self, inst) -> list[dict]:
        return []

    def link_changed(self, ifname: str, up: bool) -> None:
        pass
