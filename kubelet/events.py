"""The kubelet's events (Pulled, Created, Started, Killing, Unhealthy, BackOff, ...), as upstream's
recorder sends them: source ``kubelet`` on the node's host, involvedObject.fieldPath naming the
container (``spec.containers{web}``).

Recording never blocks a pod: events go through a bounded queue to a few sender tasks; when the queue is
full they are dropped, as upstream's broadcaster drops them under load. A repeat of an event already sent
(same object, container, type, reason and message) bumps that event's ``count`` and ``lastTimestamp``
instead of creating another, as upstream's correlator does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from typing import Any

from controllers.client import Client, path_for

from .podstatus import rfc3339

log = logging.getLogger("kplane.kubelet.events")

Obj = dict[str, Any]


class EventSink:
    def __init__(self, client: Client, *, capacity: int = 2000, senders: int = 4, enabled: bool = True) -> None:
        self.client = client
        self.enabled = enabled
        self._queue: asyncio.Queue[Obj] = asyncio.Queue(capacity)
        self._senders = senders
        self._tasks: list[asyncio.Task[None]] = []
        #: (uid, fieldPath, type, reason, message) -> [event name, count], most recent last
        self._seen: OrderedDict[tuple[str, ...], list[Any]] = OrderedDict()

    def start(self) -> None:
        if self.enabled and not self._tasks:
            self._tasks = [asyncio.create_task(self._send(), name=f"events-{i}") for i in range(self._senders)]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks = []

    def record(self, pod: Obj, *, node: str, event_type: str, reason: str, message: str,
               field_path: str = "") -> None:
        if not self.enabled:
            return
        meta = pod["metadata"]
        now = rfc3339()
        involved: Obj = {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"],
                         "uid": meta.get("uid", ""), "apiVersion": "v1",
                         "resourceVersion": meta.get("resourceVersion", "")}
        if field_path:
            involved["fieldPath"] = field_path
        event: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta.get("namespace")},
            "involvedObject": involved, "reason": reason, "message": message, "type": event_type,
            "source": {"component": "kubelet", "host": node}, "firstTimestamp": now, "lastTimestamp": now,
            "count": 1, "reportingComponent": "kubelet", "reportingInstance": node,
        }
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(event)

    async def _send(self) -> None:
        while True:
            event = await self._queue.get()
            inv = event["involvedObject"]
            key = (inv.get("uid", ""), inv.get("fieldPath", ""), event["type"], event["reason"], event["message"])
            seen = self._seen.get(key)
            namespace = event["metadata"]["namespace"]
            try:
                if seen is not None:
                    seen[1] += 1
                    self._seen.move_to_end(key)
                    await self.client.patch(path_for("", "v1", "events", namespace, seen[0]),
                                            {"count": seen[1], "lastTimestamp": event["lastTimestamp"]})
                    continue
                self._seen[key] = [event["metadata"]["name"], 1]
                if len(self._seen) > 4096:
                    self._seen.popitem(last=False)
                await self.client.create(path_for("", "v1", "events", namespace), event)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # best effort, as upstream
                log.debug("event %s not recorded: %r", event["reason"], e)


def container_path(name: str, *, init: bool) -> str:
    return f"spec.{'initContainers' if init else 'containers'}{{{name}}}"
