"""/metrics in Prometheus text format, with upstream's metric names where they exist
(apiserver_request_total, apiserver_request_duration_seconds, apiserver_registered_watchers,
etcd_request_duration_seconds, apiserver_storage_objects)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import routes

if TYPE_CHECKING:
    pass

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60)
VERBS = {"POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE"}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["verb", "group", "version", "resource", "subresource", "scope", "component", "code"]
        self.requests = Counter("apiserver_request_total", "Counter of apiserver requests broken out for each "
                                "verb, dry run value, group, version, resource, scope, component, and HTTP "
                                "response code.", labels, registry=self.registry)
        self.latency = Histogram("apiserver_request_duration_seconds", "Response latency distribution in "
                                 "seconds for each verb, group, version, resource, subresource, scope and "
                                 "component.", labels[:-1], buckets=BUCKETS, registry=self.registry)
        self.watchers = Gauge("apiserver_registered_watchers", "Number of currently registered watchers for a "
                              "given resources", ["group", "version", "kind"], registry=self.registry)
        self.storage = Histogram("etcd_request_duration_seconds", "Storage request latency in seconds for each "
                                 "operation and object type.", ["operation", "type"], buckets=BUCKETS,
                                 registry=self.registry)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _verb(method: str, ri: routes.RequestInfo | None, query: bytes) -> str:
    if method == "GET":
        if ri is not None and (ri.watch_path or b"watch=true" in query or b"watch=1" in query
                               or b"watch=True" in query):
            return "WATCH"
        if ri is not None and not ri.name:
            return "LIST"
        return "GET"
    if method == "DELETE" and ri is not None and not ri.name:
        return "DELETECOLLECTION"
    return VERBS.get(method, method)


class MetricsMiddleware:
    """Counts and times every API request by verb/resource/code (watches are counted, not timed)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        ri = routes.parse(scope["path"])
        verb = _verb(scope["method"], ri, scope.get("query_string", b""))
        code = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                code[0] = message["status"]
            await send(message)

        labels = ("", "", "", "", "", "apiserver")
        if ri is not None:
            scope_label = "resource" if ri.name else ("namespace" if ri.namespace else "cluster")
            labels = (ri.group, ri.version, ri.resource, ri.subresource, scope_label, "apiserver")
        gauge = None
        if verb == "WATCH" and ri is not None:
            gauge = self.metrics.watchers.labels(ri.group, ri.version, ri.resource)
            gauge.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if gauge is not None:
                gauge.dec()
            self.metrics.requests.labels(verb, *labels, str(code[0])).inc()
            if verb != "WATCH":
                self.metrics.latency.labels(verb, *labels).observe(time.perf_counter() - start)


class TimedBackend:
    """Wraps a storage Backend, timing the request verbs into etcd_request_duration_seconds."""

    TIMED = frozenset({"get", "list", "count", "create", "update", "delete"})

    def __init__(self, backend: Any, metrics: Metrics) -> None:
        self._backend = backend
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._backend, name)
        if name not in self.TIMED:
            return attr
        histogram = self._metrics.storage

        async def timed(key: str, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await attr(key, *args, **kwargs)
            finally:
                kind = key.split("/")[2] if key.count("/") >= 2 else key
                histogram.labels(name, kind).observe(time.perf_counter() - start)

        return timed
