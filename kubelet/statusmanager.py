"""The status manager: pod workers set the status they want; this writes it to ``pods/<name>/status``
when, and only when, it differs from what the API holds (upstream's status_manager).

Writes are JSON merge patches over the kubelet's own status keys (others' fields and conditions are left
alone); the patch carries no resourceVersion, so it never conflicts, as upstream's patch. What the API
holds is the newer of the informer's copy and the last patch response. Every pod is re-checked every
``resync`` seconds, so a lost write is repaired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from controllers.client import ApiError, Client, path_for
from controllers.runtime import WorkQueue

from .podstatus import status_patch

log = logging.getLogger("kplane.kubelet.status")

Obj = dict[str, Any]


def _rv(obj: Obj | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion", "0"))
    except ValueError:
        return 0


class StatusManager:
    def __init__(self, client: Client, cached: Callable[[str], Obj | None], *, workers: int = 4,
                 resync: float = 10.0) -> None:
        self.client = client
        self._cached = cached
        self._desired: dict[str, tuple[str, Obj]] = {}  # key -> (uid, status)
        self._responses: dict[str, Obj] = {}
        self.queue = WorkQueue()
        self.workers = workers
        self.resync = resync
        self.writes = 0
        self._locks: dict[str, asyncio.Lock] = {}
        self._written: dict[str, tuple[Obj, int]] = {}  # key -> (status, resourceVersion of the response)

    def set(self, key: str, uid: str, status: Obj) -> None:
        if self._desired.get(key) == (uid, status):
            return
        self._desired[key] = (uid, status)
        self.queue.add(key)

    def check(self, key: str) -> None:
        """The API's copy changed (informer event): compare again."""
        if key in self._desired:
            self.queue.add(key)

    def forget(self, key: str, uid: str) -> None:
        if self._desired.get(key, ("",))[0] == uid:
            self._desired.pop(key, None)
            self._responses.pop(key, None)
            self._locks.pop(key, None)
            self._written.pop(key, None)

    def api_pod(self, key: str) -> Obj | None:
        cached = self._cached(key)
        resp = self._responses.get(key)
        if resp is not None and (cached is None or _rv(resp) > _rv(cached)):
            if cached is None or cached["metadata"].get("uid") != resp["metadata"].get("uid"):
                return cached
            return resp
        return cached

    async def sync(self, key: str) -> None:
        """Write the desired status of ``key`` now if the API differs."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            await self._sync(key)

    async def _sync(self, key: str) -> None:
        desired = self._desired.get(key)
        pod = self.api_pod(key)
        if desired is None or pod is None:
            return
        uid, status = desired
        meta = pod["metadata"]
        if meta.get("uid") != uid:
            return
        patch = status_patch(pod.get("status") or {}, status)
        if patch is None:
            return
        written = self._written.get(key)
        if written is not None and written[0] == status and written[1] == _rv(pod):
            return  # the API holds what we wrote, normalized: writing again would change nothing
        path = path_for("", "v1", "pods", meta.get("namespace", ""), meta["name"], "status")
        try:
            resp = await self.client.patch(path, {"metadata": {"uid": uid}, "status": patch})
        except ApiError as e:
            if e.not_found:
                return
            raise
        self.writes += 1
        if resp.get("metadata", {}).get("uid") == uid:
            self._responses[key] = resp
            self._written[key] = (status, _rv(resp))

    async def delete_pod(self, pod: Obj) -> None:
        """The final delete once the pod's containers are gone: grace 0, only this UID."""
        meta = pod["metadata"]
        try:
            await self.client.delete(path_for("", "v1", "pods", meta.get("namespace", ""), meta["name"]),
                                     grace_period=0, preconditions={"uid": meta["uid"]})
        except ApiError as e:
            if not (e.not_found or e.conflict):
                raise

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._worker(), name=f"status-{i}") for i in range(self.workers)]
        tasks.append(asyncio.create_task(self._resync(), name="status-resync"))
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync)
            for key in list(self._desired):
                self.queue.add(key)

    async def _worker(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                await self.sync(key)
                self.queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("status of %s not written: %s", key, e)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)
