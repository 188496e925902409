"""controllers.client over its lean HTTP/1.1 pool: every verb and watches against a real API server;
stale keep-alive connections, timeouts and TLS against small in-test servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gc
import ipaddress
import os
import ssl
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apiserver.pki import ensure_ca
from controllers.client import ApiError, Client, Credentials, load_kubeconfig, target
from controllers.http import Endpoint, HTTPClientError, WatchStream

from ..cluster import ServerProcess

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def client(apiserver: ServerProcess) -> AsyncIterator[Client]:
    c = Client.from_kubeconfig(apiserver.kubeconfig, user_agent="test-client")
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def ns(client: Client) -> str:
    name = f"client-{uuid.uuid4().hex[:8]}"
    await client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "x"}}, "data": data}


async def test_every_verb(client: Client, ns: str) -> None:
    coll = f"/api/v1/namespaces/{ns}/configmaps"
    dry = await client.create(coll, cm("dry"), dryRun="All")
    assert dry["metadata"]["name"] == "dry"
    created = await client.create(coll, cm("a", k="1"))
    assert created["metadata"]["uid"] and created["data"] == {"k": "1"}
    got = await client.get(f"{coll}/a")
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    got["data"]["k"] = "2"
    updated = await client.update(f"{coll}/a", got)
    assert updated["data"] == {"k": "2"}
    merged = await client.patch(f"{coll}/a", {"data": {"m": "3"}})
    assert merged["data"] == {"k": "2", "m": "3"}
    jsonp = await client.patch(f"{coll}/a", [{"op": "remove", "path": "/data/k"}], patch_type="json")
    assert jsonp["data"] == {"m": "3"}
    smp = await client.patch(f"{coll}/a", {"metadata": {"labels": {"b": "y"}}}, patch_type="strategic")
    assert smp["metadata"]["labels"] == {"app": "x", "b": "y"}
    applied = await client.patch(f"{coll}/a", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
                                               "data": {"z": "9"}}, patch_type="apply", fieldManager="t", force=True)
    assert applied["data"]["z"] == "9"
    await client.create(coll, cm("b"))
    listed = await client.list(coll, labelSelector="app=x", limit=1)
    assert listed["kind"] == "ConfigMapList" and len(listed["items"]) == 1 and listed["metadata"]["continue"]
    rest = await client.list(coll, labelSelector="app=x", limit=1, **{"continue": listed["metadata"]["continue"]})
    assert [i["metadata"]["name"] for i in listed["items"] + rest["items"]] == ["a", "b"]
    gone = await client.delete(f"{coll}/a", preconditions={"uid": created["metadata"]["uid"]})
    assert gone["kind"] == "Status" and gone["status"] == "Success" and gone["details"]["name"] == "a"
    status = await client.request("DELETE", coll, params={"labelSelector": "app=x"})
    assert status["kind"] == "ConfigMapList"
    assert (await client.list(coll))["items"] == []
    resources = await client.discover()
    assert any(r.plural == "configmaps" and r.version == "v1" and r.namespaced for r in resources)


async def test_errors_are_api_errors_with_the_status(client: Client, ns: str) -> None:
    coll = f"/api/v1/namespaces/{ns}/configmaps"
    with pytest.raises(ApiError) as e:
        await client.get(f"{coll}/missing")
    assert e.value.not_found and e.value.body["kind"] == "Status" and e.value.reason == "NotFound"
    assert e.value.body["details"] == {"name": "missing", "kind": "configmaps"}
    await client.create(coll, cm("dup"))
    with pytest.raises(ApiError) as e:
        await client.create(coll, cm("dup"))
    assert e.value.conflict and e.value.reason == "AlreadyExists"
    with pytest.raises(ApiError) as e:
        await client.create(coll, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
    assert e.value.status == 422 and e.value.reason == "Invalid"
    with pytest.raises(ApiError) as e:
        await client.list(coll, labelSelector="a in in")
    assert e.value.status == 400 and e.value.body["code"] == 400


async def test_watch_lines_bookmarks_and_error_events(client: Client, ns: str) -> None:
    coll = f"/api/v1/namespaces/{ns}/configmaps"
    start = (await client.list(coll))["metadata"]["resourceVersion"]
    events: list[tuple[str, str]] = []

    async def consume() -> None:
        async for kind, obj in client.watch(coll, resource_version=start, timeout_seconds=2, bookmarks=False,
                                            params={"labelSelector": "app=x"}):
            events.append((kind, obj["metadata"]["name"]))

    task = asyncio.create_task(consume())
    await client.create(coll, cm("w1"))
    await client.patch(f"{coll}/w1", {"data": {"a": "b"}})
    await client.delete(f"{coll}/w1")
    await asyncio.wait_for(task, 30)  # the server ends the watch after timeoutSeconds
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]

    # the test server compacts every second: revision 1 is long gone, an ERROR event with 410 Expired
    with pytest.raises(ApiError) as e:
        async for _ in client.watch(coll, resource_version="1", timeout_seconds=5):
            pass
    assert e.value.gone and e.value.reason == "Expired" and e.value.body["kind"] == "Status"
    # a watch the server refuses outright
    with pytest.raises(ApiError) as e:
        async for _ in client.watch(f"/api/v1/namespaces/{ns}/nonsense", resource_version="0"):
            pass
    assert e.value.not_found


def _socket_fds() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:"):
            out.add(link)
    return out


async def test_close_closes_every_connection(apiserver: ServerProcess, ns: str) -> None:
    before = _socket_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        c = Client.from_kubeconfig(apiserver.kubeconfig)
        coll = f"/api/v1/namespaces/{ns}/configmaps"
        await asyncio.gather(*(c.list(coll) for _ in range(40)))  # more in flight than kept idle
        watch = c.watch(coll, resource_version="0", timeout_seconds=60)
        waiter = asyncio.create_task(anext(watch))
        await c.create(coll, cm("seen"))
        kind, _ = await asyncio.wait_for(waiter, 30)
        assert kind == "ADDED"
        assert len(_socket_fds() - before) >= 2  # the watch's and the pool's
        await c.close()
        assert _socket_fds() - before == set()  # the watch's too, its iterator still open
        await watch.aclose()
        del watch, waiter, c
        gc.collect()
        await asyncio.sleep(0.05)
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_closing_the_watch_iterator_closes_its_connection(client: Client, ns: str) -> None:
    await client.list(f"/api/v1/namespaces/{ns}/configmaps")  # the pool's connection exists already
    before = _socket_fds()
    watch = client.watch(f"/api/v1/namespaces/{ns}/configmaps", resource_version="0", timeout_seconds=60)
    waiter = asyncio.create_task(anext(watch))
    await client.create(f"/api/v1/namespaces/{ns}/configmaps", cm("x"))
    await asyncio.wait_for(waiter, 30)
    assert len(_socket_fds() - before) == 1
    await watch.aclose()
    assert _socket_fds() - before == set()


# --- in-test servers ---------------------------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head, await reader.readexactly(length)


def _ok(body: bytes = b"{}") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + \
        b"\r\n\r\n" + body


async def _serve(handler: Handler, tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    return srv, srv.sockets[0].getsockname()[1]


async def test_stale_keep_alive_connections() -> None:
    """Each connection answers one request; a second one on it is read and dropped without an answer
    (the server closing an idle connection just as the request arrives)."""
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head, _ = await _read_request(reader)
            seen.append(head.split(b" ", 2)[0] + b" new")
            writer.write(_ok(b'{"n": 1}'))
            await writer.drain()
            head, _ = await _read_request(reader)
            seen.append(head.split(b" ", 2)[0] + b" dropped")
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    srv, port = await _serve(handler)
    async with srv:
        c = Client(Credentials(server=f"http://127.0.0.1:{port}"), timeout=10)
        try:
            assert await c.get("/a") == {"n": 1}
            assert await c.get("/b") == {"n": 1}  # dropped on the reused connection, retried on a fresh one
            assert await c.update("/c", {}) == {"n": 1}  # PUT is idempotent: also retried
            assert seen == [b"GET new", b"GET dropped", b"GET new", b"PUT dropped", b"PUT new"]
            seen.clear()
            with pytest.raises(HTTPClientError):  # a POST the server may have acted on is not replayed
                await c.create("/d", {})
            assert seen == [b"POST dropped"]
            assert isinstance(HTTPClientError(), OSError)  # what callers catch as connection trouble
        finally:
            await c.close()


async def test_idle_connection_closed_by_the_server_is_not_reused() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, body = await _read_request(reader)
        seen.append(head.split(b"\r\n", 1)[0] + b" " + body)
        writer.write(_ok())  # keep-alive by default, but then the server closes it (an idle timeout)
        await writer.drain()
        writer.close()

    srv, port = await _serve(handler)
    async with srv:
        c = Client(Credentials(server=f"http://127.0.0.1:{port}"), timeout=10)
        try:
            await c.create("/x", {"a": 1})
            for _ in range(50):  # bounded: until the event loop has seen the server's FIN
                await asyncio.sleep(0.01)
                idle = c._pool._idle
                if idle and not idle[0].reusable(asyncio.get_running_loop().time()):
                    break
            await c.create("/y", {"a": 2})  # a POST: would fail had the closed connection been reused
        finally:
            await c.close()
    assert seen == [b'POST /x HTTP/1.1 {"a":1}', b'POST /y HTTP/1.1 {"a":2}']


async def test_request_and_watch_timeouts() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")  # head only, for the watch
        await writer.drain()
        try:
            await reader.read()  # until the client gives up
        finally:
            writer.close()

    srv, port = await _serve(silent)
    async with srv:
        c = Client(Credentials(server=f"http://127.0.0.1:{port}"), timeout=0.3)
        try:
            with pytest.raises(TimeoutError):  # the body never comes
                await c.get("/slow")
            assert c._pool._open == set()
        finally:
            await c.close()
        stream = WatchStream(Endpoint(f"http://127.0.0.1:{port}"), "/w?watch=true", timeout=5)
        assert await stream.open()
        with pytest.raises(TimeoutError):
            async for _ in stream.lines(asyncio.get_running_loop().time() + 0.3):
                pass
        await stream.close()


async def test_query_parameters_are_encoded_as_httpx_did() -> None:
    q = {"labelSelector": "a in (x,y),b!=c", "watch": True, "dryRun": ["All", "All"], "x": None, "f": False}
    assert target("/api/v1/pods", q) == ("/api/v1/pods?labelSelector=a+in+%28x%2Cy%29%2Cb%21%3Dc&watch=true"
                                         "&dryRun=All&dryRun=All&x=&f=false")
    assert target("/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node é", None) == \
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node%20%C3%A9"
    assert target("/p?a=1", None) == "/p?a=1" and target("/p?a=1", {"b": 2}) == "/p?b=2"


# --- TLS ---------------------------------------------------------------------------------------------------


def _issue(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cn: str, *, server: bool
           ) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca_path, ca_key_path = ensure_ca(d)
    ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    out = {"ca": ca_path}
    for name, server in (("server", True), ("client", False)):
        cert, key = _issue(ca_cert, ca_key, f"system:node:{name}" if not server else "127.0.0.1", server=server)
        (d / f"{name}.crt").write_bytes(cert)
        (d / f"{name}.key").write_bytes(key)
        out[name], out[f"{name}-key"] = d / f"{name}.crt", d / f"{name}.key"
    return out


def _kubeconfig(path: Path, port: int, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": f"https://127.0.0.1:{port}", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    return path


def _b64(p: Path) -> str:
    return base64.b64encode(p.read_bytes()).decode()


async def test_tls_with_ca_client_certificate_and_token(pki: dict[str, Path], tmp_path: Path) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki["ca"]))
    server_ctx.load_cert_chain(pki["server"], pki["server-key"])
    server_ctx.verify_mode = ssl.CERT_OPTIONAL  # a client without a certificate still gets in

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head, _ = await _read_request(reader)
                peer = writer.get_extra_info("peercert") or {}
                cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
                auth = next((line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                             if line.lower().startswith(b"authorization:")), "")
                writer.write(_ok(orjson.dumps({"cn": cn, "auth": auth})))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    srv, port = await _serve(handler, server_ctx)
    async with srv:
        # CA and client certificate inline, as kplane's own kubeconfigs have them
        kc = _kubeconfig(tmp_path / "inline", port, {"certificate-authority-data": _b64(pki["ca"])},
                         {"client-certificate-data": _b64(pki["client"]), "client-key-data": _b64(pki["client-key"])})
        c = Client.from_kubeconfig(kc)
        try:
            assert await c.get("/x") == {"cn": "system:node:client", "auth": ""}
            assert await c.get("/y") == {"cn": "system:node:client", "auth": ""}  # over the same connection
        finally:
            await c.close()
        # CA from a file and a bearer token
        kc = _kubeconfig(tmp_path / "token", port, {"certificate-authority": str(pki["ca"])}, {"token": "s3cret"})
        c = Client.from_kubeconfig(kc)
        try:
            assert await c.get("/x") == {"cn": "", "auth": "Bearer s3cret"}
        finally:
            await c.close()
        # insecure-skip-tls-verify with client certificate files
        kc = _kubeconfig(tmp_path / "insecure", port, {"insecure-skip-tls-verify": True},
                         {"client-certificate": str(pki["client"]), "client-key": str(pki["client-key"])})
        c = Client(load_kubeconfig(kc))
        try:
            assert (await c.get("/x"))["cn"] == "system:node:client"
        finally:
            await c.close()
        # no CA: the system trust store does not know this server
        kc = _kubeconfig(tmp_path / "untrusted", port, {}, {})
        c = Client.from_kubeconfig(kc)
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await c.get("/x")
        finally:
            await c.close()


async def test_tls_against_the_kubelet_style_self_signed_server(tmp_path: Path) -> None:
    """The kubelet's serving certificate (kubelet/tls.py) with verification skipped, as the API server does."""
    from kubelet.tls import ensure_serving_cert

    cert, key = ensure_serving_cert(tmp_path, "127.0.0.1", ["127.0.0.1"])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found")
        await writer.drain()
        writer.close()

    srv, port = await _serve(handler, ctx)
    async with srv:
        c = Client(Credentials(server=f"https://127.0.0.1:{port}", verify=False))
        try:
            with pytest.raises(ApiError) as e:  # not a Status: the text is kept
                await c.get("/pods")
            assert e.value.status == 404 and e.value.body == {} and "not found" in str(e.value)
        finally:
            await c.close()
