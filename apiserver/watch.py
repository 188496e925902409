"""The watch verb: a cursor on the watch cache, filtered per watcher, streamed as JSON lines.

Start revision semantics (upstream "resourceVersion" for watch):
  ""  : synthetic ADDED events for every current object, then changes after that state;
  "0" : the same, from any recent state (we use the current one);
  "N" : changes after N; 410 Expired (as an ERROR event) when N has left the window.
``sendInitialEvents=true`` (with resourceVersionMatch=NotOlderThan) sends the initial ADDED events and then
a BOOKMARK annotated ``k8s.io/initial-events-end``. A watcher sees ADDED/DELETED when an object enters or
leaves its selector (decided with the event's previous object).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from . import errors, protobuf
from .handlers import TRUE, list_options
from .negotiation import Output
from .registry import ListOptions, Store, field_index, matches, parse_rv, too_large_resource_version
from .routes import RequestInfo
from .storage.cache import CacheEvent, TooOld

if TYPE_CHECKING:
    from .app import APIServer

Obj = dict[str, Any]


def is_watch(request: Request, ri: RequestInfo) -> bool:
    return ri.watch_path or request.query_params.get("watch", "") in TRUE


def _visible(ev: CacheEvent, match: Callable[[Obj], bool]) -> tuple[str, Obj] | None:
    now = ev.type != "delete" and match(ev.obj)
    before = ev.prev is not None and match(ev.prev)
    if ev.type == "delete":
        return ("DELETED", ev.obj) if before else None
    if now and before:
        return "MODIFIED", ev.obj
    if now:
        return "ADDED", ev.obj
    if before:
        # left the selector: the watcher sees the object as it is now, deleted for it
        return "DELETED", ev.obj
    return None


async def watch(server: APIServer, request: Request, ri: RequestInfo, store: Store, out: Output) -> Response:
    info = store.info
    opts = list_options(request, info, watch=True)
    if ri.name:
        opts.field_selector = (*opts.field_selector, ("metadata.name", "=", ri.name))
    q = request.query_params
    rv = q.get("resourceVersion", "")
    send_initial = q.get("sendInitialEvents")
    if send_initial is not None and send_initial not in ("true", "false"):
        raise errors.bad_request(f'invalid sendInitialEvents "{send_initial}"')
    if send_initial == "true" and q.get("resourceVersionMatch") != "NotOlderThan":
        raise errors.invalid_object("meta.k8s.io", "ListOptions", "", [errors.FieldError(
            "FieldValueForbidden", "sendInitialEvents",
            detail="sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan")])
    if send_initial is None and q.get("resourceVersionMatch"):
        raise errors.bad_request("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    bookmarks = q.get("allowWatchBookmarks", "") in TRUE
    timeout_s = _timeout(request)
    cache = server.cache
    filtered = bool(opts.label_selector or opts.field_selector)

    def match(obj: Obj) -> bool:
        return not filtered or matches(info, obj, opts)

    initial: list[Obj] = []
    initial_events = send_initial == "true" or (send_initial is None and rv in ("", "0"))
    if initial_events:
        # "" is a consistent read, "0" any state, N (sendInitialEvents) a state not older than N
        items, list_meta = await store.list(ri.namespace, ListOptions(
            opts.label_selector, opts.field_selector, resource_version=rv,
            resource_version_match="NotOlderThan" if rv not in ("", "0") else ""))
        initial = items
        start = int(list_meta["resourceVersion"])
    else:
        start = parse_rv(rv)
        if start > cache.revision and not await cache.wait_for_revision(start, 3.0):
            raise too_large_resource_version(start, cache.revision)
    prefix = info.prefix(ri.namespace)
    index = field_index(info, opts.field_selector)

    table = out.media == "table"
    first = [True]

    proto = out.media == "protobuf" and protobuf.message_for_kind(info.group, info.version, info.kind) is not None

    def proto_line(watch_type: str, obj: Obj) -> bytes:
        if info.extra.get("crd") or obj.get("apiVersion") != info.api_version:
            obj = {**obj, "apiVersion": info.api_version}
        return protobuf.encode_watch_event(watch_type, obj, api_version=info.api_version)

    def json_line(watch_type: str, obj: Obj) -> bytes:
        if obj.get("apiVersion") != info.api_version and info.extra.get("crd"):
            obj = {**obj, "apiVersion": info.api_version}
        return orjson.dumps({"type": watch_type, "object": obj}) + b"\n"

    def encode(watch_type: str, obj: Obj, ev: CacheEvent | None = None) -> bytes:
        """With ``ev`` (whose object ``obj`` is) the bytes are encoded once per event and shared by every
        watcher of this version and media type."""
        if not table:
            make = proto_line if proto else json_line
            if ev is None:
                return make(watch_type, obj)
            return ev.encoded((proto, watch_type, info.api_version), lambda: make(watch_type, obj))
        if info.extra.get("crd"):
            obj = {**obj, "apiVersion": info.api_version}
        # as upstream: only the first event of a stream carries the column definitions
        t = server.table(info, [obj], out, {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                         columns=first[0], single=True)
        first[0] = False
        return orjson.dumps({"type": watch_type, "object": t}) + b"\n"

    def bookmark(revision: int, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(revision)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        if proto:
            return encode("BOOKMARK", {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta})
        return orjson.dumps({"type": "BOOKMARK", "object": {"kind": info.kind, "apiVersion": info.api_version,
                                                               "metadata": meta}}) + b"\n"

    def error_event(status: Obj) -> bytes:
        if proto:
            return protobuf.encode_watch_event("ERROR", status, api_version=info.api_version)
        return orjson.dumps({"type": "ERROR", "object": status}) + b"\n"

    async def stream() -> AsyncIterator[bytes]:
        yield b""  # headers first
        for obj in initial:
            yield encode("ADDED", obj)
        if send_initial == "true" and bookmarks:
            yield bookmark(start, initial_end=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        interval = server.config.bookmark_interval
        next_bookmark = loop.time() + interval * random.uniform(0.9, 1.0) if bookmarks else float("inf")

        def tick() -> float:
            # wake for the deadline, the next bookmark, and at least every second to notice shutdown
            return min(deadline, next_bookmark, loop.time() + 1.0) - loop.time()

        try:
            async for batch in cache.batches(after=start, prefix=prefix, tick=tick, index=index):
                chunk = []
                for ev in batch:
                    vis = _visible(ev, match)
                    if vis is not None:
                        chunk.append(encode(vis[0], vis[1], ev))
                now = loop.time()
                if now >= next_bookmark:
                    chunk.append(bookmark(cache.revision))
                    next_bookmark = now + interval * random.uniform(0.9, 1.0)
                if chunk:
                    yield b"".join(chunk)  # one write per drained batch
                if now >= deadline or server.shutting_down.is_set():
                    return
        except TooOld as e:
            yield error_event(errors.expired(str(e)).status())

    media = "application/vnd.kubernetes.protobuf;stream=watch" if proto else "application/json"
    return StreamingResponse(stream(), media_type=media)


def _timeout(request: Request) -> float:
    raw = request.query_params.get("timeoutSeconds")
    if raw:
        try:
            return max(float(int(raw)), 0.0) or 1800.0
        except ValueError:
            raise errors.bad_request(f'invalid timeoutSeconds "{raw}"') from None
    # upstream: a random duration between minRequestTimeout and 2x (30-60 min)
    return 1800.0 * random.uniform(1.0, 2.0)
