"""Desired IPVS state vs. the kernel's: the smallest set of changes.

``plan`` is pure (no I/O, deterministic order) so it can be tested with plain
values and shown to an operator before anything is applied.  Rules:

* Never flush and refill: a service or destination that only changed
  settings is edited in place, so existing connections survive.
* Services we do not own are never touched.  We own the keys in
  ``owned_keys`` (what we programmed before) plus every desired key (our
  configuration names it, so we adopt it even if someone else created it).
  Inside an owned service every destination is ours.
* New things first, removals last: a service gains its new real servers
  before it loses old ones, so it is never empty in between.
* A destination whose address or port changed is a different destination
  (delete + add); a forwarding-method or weight change is an edit, and an
  edit always carries the whole destination (the kernel replaces it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol, Union

from vipdeck.engine.ipvs.model import Dest, DestKey, Service, ServiceKey, Snapshot, VirtualService, index


@dataclass(frozen=True)
class AddService:
    service: Service

    def __str__(self) -> str:
        return f"add service {self.service.key} ({self.service.scheduler})"


@dataclass(frozen=True)
class EditService:
    service: Service
    old: Service

    def __str__(self) -> str:
        return f"edit service {self.service.key}: {_diff(self.old, self.service)}"


@dataclass(frozen=True)
class DelService:
    key: ServiceKey

    def __str__(self) -> str:
        return f"delete service {self.key}"


@dataclass(frozen=True)
class AddDest:
    service: ServiceKey
    dest: Dest

    def __str__(self) -> str:
        return f"add dest {self.dest.key} to {self.service} ({self.dest.forward}, weight {self.dest.weight})"


@dataclass(frozen=True)
class EditDest:
    service: ServiceKey
    dest: Dest
    old: Dest

    def __str__(self) -> str:
        return f"edit dest {self.dest.key} of {self.service}: {_diff(self.old, self.dest)}"


@dataclass(frozen=True)
class DelDest:
    service: ServiceKey
    dest: DestKey

    def __str__(self) -> str:
        return f"delete dest {self.dest} of {self.service}"


Change = Union[AddService, EditService, DelService, AddDest, EditDest, DelDest]


def _diff(old, new) -> str:
    parts = [f"{name} {getattr(old, name)!r} -> {getattr(new, name)!r}"
             for name in old.__dataclass_fields__
             if getattr(old, name) != getattr(new, name)]
    return ", ".join(parts) or "no change"


def _as_services(state: Iterable[VirtualService] | Snapshot) -> dict[ServiceKey, VirtualService]:
    if isinstance(state, Snapshot):
        return index(state.virtual_services())
    return index(state)


def plan(desired: Iterable[VirtualService], actual: Iterable[VirtualService] | Snapshot,
         owned_keys: Iterable[ServiceKey] = ()) -> list[Change]:
    """Changes that turn ``actual`` into ``desired`` for the services we own."""
    want = _as_services(desired)
    have = _as_services(actual)
    owned = set(owned_keys) | set(want)

    add_svc: list[Change] = []
    edit_svc: list[Change] = []
    add_dest: list[Change] = []
    edit_dest: list[Change] = []
    del_dest: list[Change] = []
    del_svc: list[Change] = []

    for key in sorted(want):
        vs = want[key]
        cur = have.get(key)
        if cur is None:
            add_svc.append(AddService(vs.service))
            add_dest.extend(AddDest(key, d) for d in sorted(vs.dests, key=lambda d: d.key))
            continue
        if cur.service != vs.service:
            edit_svc.append(EditService(vs.service, cur.service))
        cur_dests = {d.key: d for d in cur.dests}
        want_dests = {d.key: d for d in vs.dests}
        for dkey in sorted(want_dests):
            d = want_dests[dkey]
            old = cur_dests.get(dkey)
            if old is None:
                add_dest.append(AddDest(key, d))
            elif old != d:
                edit_dest.append(EditDest(key, d, old))
        for dkey in sorted(set(cur_dests) - set(want_dests)):
            del_dest.append(DelDest(key, dkey))

    for key in sorted(set(have) - set(want)):
        if key in owned:
            del_svc.append(DelService(key))

    return add_svc + edit_svc + add_dest + edit_dest + del_dest + del_svc


class Backend(Protocol):
    """What ``apply`` needs; ``engine.ipvs.kernel.IpvsKernel`` provides it."""

    async def add_service(self, svc: Service) -> None: ...
    async def edit_service(self, svc: Service) -> None: ...
    async def del_service(self, key: ServiceKey) -> None: ...
    async def add_dest(self, key: ServiceKey, dest: Dest) -> None: ...
    async def edit_dest(self, key: ServiceKey, dest: Dest) -> None: ...
    async def del_dest(self, key: ServiceKey, dest: DestKey) -> None: ...


@dataclass
class ApplyResult:
    done: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, Exception]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


async def apply(changes: Iterable[Change], backend: Backend) -> ApplyResult:
    """Apply changes in order; a failed change is recorded, the rest still run.

    One bad real server (say an address the kernel refuses) must not keep
    the other services from being programmed.  After a failed AddService
    that service's AddDest entries are reported failed without trying.
    """
    result = ApplyResult()
    missing: set[ServiceKey] = set()
    for ch in changes:
        try:
            if isinstance(ch, AddService):
                await backend.add_service(ch.service)
            elif isinstance(ch, EditService):
                await backend.edit_service(ch.service)
            elif isinstance(ch, DelService):
                await backend.del_service(ch.key)
            elif isinstance(ch, AddDest):
                if ch.service in missing:
                    raise RuntimeError(f"service {ch.service} could not be added")
                await backend.add_dest(ch.service, ch.dest)
            elif isinstance(ch, EditDest):
                await backend.edit_dest(ch.service, ch.dest)
            elif isinstance(ch, DelDest):
                await backend.del_dest(ch.service, ch.dest)
            else:
                raise TypeError(f"not a change: {ch!r}")
        except Exception as exc:  # recorded for the caller; never aborts the rest
            result.failed.append((ch, exc))
            if isinstance(ch, AddService):
                missing.add(ch.service.key)
            continue
        result.done.append(ch)
    return result
