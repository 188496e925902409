"""An async Kubernetes REST client, shared by controllers, the scheduler and kubelets.

It speaks plain JSON over the lean HTTP/1.1 pool of :mod:`controllers.http` to any API server named by a
kubeconfig (kplane or a real cluster): no generated models, objects are dicts. Errors the server answers
come back as :class:`ApiError` carrying the Status; transport failures are ``OSError``s
(:class:`~controllers.http.HTTPClientError`, ``TimeoutError``, ``ssl.SSLError``...).
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import yaml

from .http import Endpoint, Pool, WatchStream

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, body: Obj | None, text: str = "") -> None:
        self.status = status
        self.body = body or {}
        self.reason = self.body.get("reason", "")
        super().__init__(f"{status} {self.reason}: {self.body.get('message', text)}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


def path_for(group: str, version: str, plural: str, namespace: str = "", name: str = "",
             subresource: str = "") -> str:
    root = f"/apis/{group}/{version}" if group else f"/api/{version}"
    path = f"{root}/namespaces/{namespace}/{plural}" if namespace else f"{root}/{plural}"
    if name:
        path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
    return path


def object_path(obj: Obj, plural: str, subresource: str = "") -> str:
    group, _, version = obj["apiVersion"].rpartition("/")
    meta = obj["metadata"]
    return path_for(group, version, plural, meta.get("namespace", ""), meta["name"], subresource)


@dataclass(frozen=True)
class APIResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]


@dataclass
class Credentials:
    server: str
    token: str | None = None
    cert: tuple[str, str] | None = None
    verify: ssl.SSLContext | bool = True


def load_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> Credentials:
    """Server URL and credentials of a kubeconfig's (current) context; inline data goes to temp files."""
    cfg = yaml.safe_load(Path(path).read_text())
    ctx_name = context or cfg.get("current-context")
    ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    user = next((u.get("user") or {} for u in cfg.get("users") or [] if u["name"] == ctx.get("user")), {})
    creds = Credentials(server=cluster["server"].rstrip("/"))

    def materialize(data_key: str, file_key: str, holder: Obj) -> str | None:
        if holder.get(data_key):
            f = tempfile.NamedTemporaryFile(delete=False, prefix="kplane-")
            f.write(base64.b64decode(holder[data_key]))
            f.close()
            return f.name
        value = holder.get(file_key)
        return str(value) if value else None

    ca = materialize("certificate-authority-data", "certificate-authority", cluster)
    if cluster.get("insecure-skip-tls-verify"):
        creds.verify = False
    elif ca:
        creds.verify = ssl.create_default_context(cafile=ca)
    cert = materialize("client-certificate-data", "client-certificate", user)
    key = materialize("client-key-data", "client-key", user)
    if cert and key:
        creds.cert = (cert, key)
        if isinstance(creds.verify, ssl.SSLContext):
            creds.verify.load_cert_chain(cert, key)
    if user.get("token"):
        creds.token = user["token"]
    elif user.get("tokenFile"):
        creds.token = Path(user["tokenFile"]).read_text().strip()
    return creds


def _ssl_context(creds: Credentials) -> ssl.SSLContext | None:
    """The TLS settings of ``creds`` (None for plain HTTP); HTTP/1.1 offered by ALPN."""
    if not creds.server.startswith("https://"):
        return None
    verify = creds.verify
    if isinstance(verify, ssl.SSLContext):
        ctx = verify  # client certificate already loaded by load_kubeconfig; shared by every Client
    else:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if creds.cert:
            ctx.load_cert_chain(*creds.cert)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _query_value(value: Any) -> str:
    """A query parameter's value as httpx wrote it: booleans lower-case, None empty."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def target(path: str, params: dict[str, Any] | None) -> str:
    """Request target of ``path`` with ``params`` encoded as httpx did: the path percent-encoded where
    needed, lists as repeated keys, form encoding (``+`` for spaces); params, when given, replace any query
    the path carries."""
    path = quote(path, safe="/:@!$&'()*+,;=[]%?")
    if params is None:
        return path
    path = path.split("?", 1)[0]
    pairs: builtins.list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, (builtins.list, tuple)):
            pairs += [(key, _query_value(v)) for v in value]
        else:
            pairs.append((key, _query_value(value)))
    return f"{path}?{urlencode(pairs)}" if pairs else path


def _status_body(body: bytes) -> Obj | None:
    """The Status (or any JSON object) an error response carries, if it carries one."""
    try:
        err = orjson.loads(body)
    except ValueError:
        return None
    return err if isinstance(err, dict) else None


class Client:
    def __init__(self, creds: Credentials, *, user_agent: str = "kplane", timeout: float = 30.0) -> None:
        self.server = creds.server
        endpoint = Endpoint(creds.server, ssl_context=_ssl_context(creds),
                            authorization=f"Bearer {creds.token}" if creds.token else None, user_agent=user_agent)
        self._pool = Pool(endpoint, timeout=timeout, max_idle=32)

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str], *, user_agent: str = "kplane") -> Client:
        return cls(load_kubeconfig(path), user_agent=user_agent)

    async def close(self) -> None:
        """Close every connection: idle, in flight and watches."""
        await self._pool.close()

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      body: Any = None, content_type: str = "application/json") -> Obj:
        content = orjson.dumps(body) if body is not None else None
        r = await self._pool.request(method, target(path, params), content, content_type)
        if r.status >= 400:
            raise ApiError(r.status, _status_body(r.body), r.text[:300])
        data: Obj = orjson.loads(r.body) if r.body else {}
        return data

    async def get(self, path: str, **params: Any) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def list(self, path: str, **params: Any) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, obj: Obj, **params: Any) -> Obj:
        return await self.request("POST", path, body=obj, params=params or None)

    async def update(self, path: str, obj: Obj, **params: Any) -> Obj:
        return await self.request("PUT", path, body=obj, params=params or None)

    async def patch(self, path: str, patch: Any, *, patch_type: str = "merge", **params: Any) -> Obj:
        ctype = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
                 "strategic": "application/strategic-merge-patch+json",
                 "apply": "application/apply-patch+yaml"}[patch_type]
        return await self.request("PATCH", path, body=patch, params=params or None, content_type=ctype)

    async def delete(self, path: str, *, propagation: str | None = None, grace_period: int | None = None,
                     preconditions: Obj | None = None) -> Obj:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        if preconditions:
            body["preconditions"] = preconditions
        return await self.request("DELETE", path, body=body)

    async def watch(self, path: str, *, resource_version: str, timeout_seconds: int = 300,
                    bookmarks: bool = True, params: dict[str, str] | None = None
                    ) -> AsyncIterator[tuple[str, Obj]]:
        """(type, object) pairs until the server ends the stream. An ERROR event raises ApiError."""
        q = {"watch": "true", "resourceVersion": resource_version, "timeoutSeconds": str(timeout_seconds),
             **(params or {})}
        if bookmarks:
            q["allowWatchBookmarks"] = "true"
        # httpx's Timeout(timeout_seconds + 30, connect=10) as one deadline: the server ends the watch first
        stream: WatchStream = self._pool.stream(target(path, q), timeout=float(timeout_seconds + 30))
        try:
            if not await stream.open():
                raise ApiError(stream.status, _status_body(stream.body),
                               stream.body[:300].decode(errors="replace"))
            deadline = asyncio.get_running_loop().time() + timeout_seconds + 30
            async for _, line in stream.lines(deadline):
                ev = orjson.loads(line)
                if ev.get("type") == "ERROR":
                    status = ev.get("object") or {}
                    raise ApiError(int(status.get("code", 500)), status)
                yield ev["type"], ev["object"]
        finally:
            await stream.close()

    async def discover(self) -> builtins.list[APIResource]:
        """Every top-level resource of the preferred and other versions (legacy discovery)."""
        out: builtins.list[APIResource] = []
        versions = [("", v) for v in (await self.get("/api")).get("versions", [])]
        for g in (await self.get("/apis")).get("groups", []):
            versions += [(g["name"], v["version"]) for v in g.get("versions", [])]

        async def one(group: str, version: str) -> builtins.list[APIResource]:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                doc = await self.get(path)
            except ApiError:
                return []
            return [APIResource(group, version, r["name"], r["kind"], r["namespaced"], tuple(r.get("verbs", [])))
                    for r in doc.get("resources", []) if "/" not in r["name"]]

        for chunk in await asyncio.gather(*(one(g, v) for g, v in versions)):
            out += chunk
        return out
