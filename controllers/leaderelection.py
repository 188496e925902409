"""Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .client import ApiError, Client, path_for

log = logging.getLogger("kplane.leaderelection")

Obj = dict[str, Any]


def _micro(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(s: str | None) -> dt.datetime | None:
    if not s:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return dt.datetime.strptime(s, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    return None


class LeaderElector:
    def __init__(self, client: Client, *, name: str, namespace: str = "kube-system", identity: str,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
        self.client = client
        self.name, self.namespace, self.identity = name, namespace, identity
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self.path = path_for("coordination.k8s.io", "v1", "leases", namespace, name)
        self.is_leader = False

    async def _try(self) -> bool:
        now = dt.datetime.now(dt.UTC)
        try:
            lease = await self.client.get(self.path)
        except ApiError as e:
            if not e.not_found:
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                             "acquireTime": _micro(now), "renewTime": _micro(now), "leaseTransitions": 0}}
            await self.client.create(path_for("coordination.k8s.io", "v1", "leases", self.namespace), body)
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = _parse(spec.get("renewTime"))
        duration = spec.get("leaseDurationSeconds") or self.lease_duration
        expired = renewed is None or (now - renewed).total_seconds() > duration
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec["leaseTransitions"] = (spec.get("leaseTransitions") or 0) + 1
            spec["acquireTime"] = _micro(now)
        spec.update({"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                     "renewTime": _micro(now)})
        lease["spec"] = spec
        await self.client.update(self.path, lease)  # 409 -> somebody else won this round
        return True

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Acquire the lease, then run ``lead`` while renewing; if renewal fails past the deadline,
        ``lead`` is cancelled and we go back to acquiring."""
        while True:
            while not await self._attempt():
                await asyncio.sleep(self.retry_period)
            log.info("%s became leader of %s/%s", self.identity, self.namespace, self.name)
            self.is_leader = True
            task = asyncio.create_task(lead())
            try:
                await self._renew_until_lost(task)
            finally:
                self.is_leader = False
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:  # lead's own failure ends this term; say why, or it loops silently
                    log.exception("%s: the leader's work failed", self.identity)
            log.warning("%s lost the lease %s/%s", self.identity, self.namespace, self.name)

    async def _attempt(self) -> bool:
        try:
            return await self._try()
        except ApiError as e:
            if not e.conflict:
                log.debug("lease attempt failed: %s", e)
            return False
        except Exception as e:
            log.debug("lease attempt failed: %r", e)
            return False

    async def _renew_until_lost(self, task: asyncio.Task[None]) -> None:
        last_renew = asyncio.get_running_loop().time()
        while not task.done():
            await asyncio.sleep(self.retry_period)
            if await self._attempt():
                last_renew = asyncio.get_running_loop().time()
            elif asyncio.get_running_loop().time() - last_renew > self.renew_deadline:
                return
