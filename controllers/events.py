"""Events for what controllers do (core/v1 Events, which `kubectl get events` and describe show)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from .client import ApiError, Client, path_for

log = logging.getLogger("kplane.events")

Obj = dict[str, Any]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventRecorder:
    def __init__(self, client: Client, component: str) -> None:
        self.client = client
        self.component = component

    async def record(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        """Best effort, as upstream's recorder: a failure is logged, never raised."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        now = _now()
        event: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""),
                               "name": meta["name"], "uid": meta.get("uid", ""),
                               "apiVersion": obj.get("apiVersion", ""),
                               "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": self.component},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "eventTime": None, "reportingComponent": self.component, "reportingInstance": "",
        }
        involved: Obj = event["involvedObject"]
        if not involved["namespace"]:
            involved.pop("namespace")
        try:
            await self.client.create(path_for("", "v1", "events", namespace), event)
        except ApiError as e:
            log.debug("event %s/%s not recorded: %s", reason, meta["name"], e)
        except Exception as e:  # the API may be going away
            log.debug("event not recorded: %r", e)
