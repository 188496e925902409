"""nodes/proxy, pods/proxy and services/proxy: HTTP requests relayed to a kubelet, a pod or a Service endpoint.

``/api/v1/nodes/{name}/proxy/{path}`` goes to the node's kubelet over HTTPS (``{name}:{port}`` with another
port: that port on the node); ``/api/v1/namespaces/{ns}/pods/{name}/proxy/{path}`` to the pod IP (port from
``{name}:{port}``, else the first declared containerPort); services pick a ready EndpointSlice endpoint for the
port given by name or number. ``scheme:name:port`` selects http or https (not verified, as upstream).
Every method, the query string and body are forwarded; the response streams back with its status and headers.
A GET of ``.../proxy`` without a trailing slash is redirected to ``.../proxy/`` (upstream's root redirect), and
a redirect's Location on the target is rewritten under the proxy path. HTML bodies are not rewritten.
"""

from __future__ import annotations

import ipaddress
import random
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from . import errors
from .registry import ListOptions

if TYPE_CHECKING:
    from .app import APIServer

Obj = dict[str, Any]

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "authorization"})
DEFAULT_KUBELET_PORT = 10250
_contexts: dict[str, ssl.SSLContext] = {}


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """Client TLS: verified against ``ca_file``, or (empty) not verified, as upstream's proxy transports."""
    ctx = _contexts.get(ca_file)
    if ctx is None:
        if ca_file:
            ctx = ssl.create_default_context(cafile=ca_file)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _contexts[ca_file] = ctx
    return ctx


def kubelet_tls(server: APIServer) -> ssl.SSLContext:
    return tls_context(server.config.kubelet_certificate_authority)


def split_scheme_name_port(kind: str, ident: str) -> tuple[str, str, str]:
    """``name``, ``name:port`` or ``scheme:name:port`` (scheme http or https), as upstream's SplitSchemeNamePort."""
    parts = ident.split(":")
    scheme, port = "", ""
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        name, port = parts
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        name = ""
    if not name or scheme not in ("", "http", "https"):
        raise errors.bad_request(f'invalid {kind} request "{ident}"')
    return scheme, name, port


def join_host(host: str, port: int | str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def node_address(node: Obj) -> str:
    """The address the API server dials a node at: InternalIP, then ExternalIP, then Hostname."""
    addresses = {a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or []}
    host = addresses.get("InternalIP") or addresses.get("ExternalIP") or addresses.get("Hostname")
    if not host:
        known = [f"{a.get('type')}={a.get('address')}" for a in (node.get("status") or {}).get("addresses") or []]
        raise errors.internal(f"no preferred addresses found; known addresses: [{' '.join(known)}]")
    return str(host)


def kubelet_port(node: Obj) -> int:
    port = (((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    return port if isinstance(port, int) and port > 0 else DEFAULT_KUBELET_PORT


def _allowed_ip(text: str) -> bool:
    """Upstream only proxies to global unicast pod IPs; loopback is allowed too, since pods of the process
    runtime share the node's network at 127.0.0.1."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (ip.is_unspecified or ip.is_multicast or ip.is_link_local or ip.is_reserved)


class Target:
    def __init__(self, scheme: str, hostport: str, tls: ssl.SSLContext) -> None:
        self.scheme = scheme
        self.hostport = hostport
        self.tls = tls


async def _node_target(server: APIServer, ident: str) -> Target:
    scheme, name, port = split_scheme_name_port("node", ident)
    node = await server.store(server.registry.get("", "v1", "nodes")).get("", name)
    host, kport = node_address(node), kubelet_port(node)
    if port and port != str(kport):
        return Target(scheme or "http", join_host(host, port), tls_context())
    return Target("https", join_host(host, kport), kubelet_tls(server))


async def _pod_target(server: APIServer, namespace: str, ident: str) -> Target:
    scheme, name, port = split_scheme_name_port("pod", ident)
    pod = await server.store(server.registry.get("", "v1", "pods")).get(namespace, name)
    if not port:
        for c in (pod.get("spec") or {}).get("containers") or []:
            if c.get("ports"):
                port = str(c["ports"][0].get("containerPort", ""))
                break
    ip = str((pod.get("status") or {}).get("podIP") or "")
    if not _allowed_ip(ip):
        raise errors.bad_request("address not allowed")
    hostport = join_host(ip, port) if port else (f"[{ip}]" if ":" in ip else ip)
    return Target(scheme or "http", hostport, tls_context())


async def _service_target(server: APIServer, namespace: str, ident: str) -> Target:
    scheme, name, port = split_scheme_name_port("service", ident)
    svc = await server.store(server.registry.get("", "v1", "services")).get(namespace, name)
    if port.isdigit():
        named = [p.get("name") or "" for p in (svc.get("spec") or {}).get("ports") or []
                 if str(p.get("port")) == str(int(port))]
        if not named:
            raise errors.service_unavailable(f'no service port {int(port)} found for service "{name}"')
        port = named[0]
    info = server.registry.get("discovery.k8s.io", "v1", "endpointslices")
    slices: list[Obj] = []
    if info is not None:
        items, _ = await server.store(info).list(namespace, ListOptions())
        slices = [s for s in items
                  if ((s.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/service-name") == name]
    if not slices:
        raise errors.service_unavailable(f'no endpoints available for service "{name}"')
    candidates: list[str] = []
    for s in slices:
        number = next((p.get("port") for p in s.get("ports") or [] if (p.get("name") or "") == port), None)
        if not isinstance(number, int):
            continue
        for ep in s.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            candidates += [join_host(a, number) for a in ep.get("addresses") or [] if a]
    if not candidates:
        raise errors.service_unavailable(f'no endpoints available for service "{ident}"')
    return Target(scheme or "http", random.choice(candidates), tls_context())


def _reach_error(err: Exception, hostport: str) -> errors.StatusError:
    text = str(err) or type(err).__name__
    low = text.lower()
    if "certificate_verify_failed" in low or "certificate verify failed" in low:
        detail = "tls: failed to verify certificate: x509: certificate signed by unknown authority"
    elif "refused" in low or "all connection attempts failed" in low:
        detail = f"dial tcp {hostport}: connect: connection refused"
    elif isinstance(err, httpx.TimeoutException):
        detail = f"dial tcp {hostport}: i/o timeout"
    elif "unreachable" in low:
        detail = f"dial tcp {hostport}: connect: no route to host"
    else:
        detail = text
    return errors.service_unavailable(f"error trying to reach service: {detail}")


def _rewrite_location(location: str, target: Target, prefix: str) -> str:
    """A redirect to the target itself (absolute path, or its own host) stays under the proxy path."""
    try:
        url = urlsplit(location)
    except ValueError:
        return location
    if (url.netloc and url.netloc != target.hostport) or not url.path.startswith("/"):
        return location
    if url.path.startswith(prefix + "/"):
        return location
    return prefix + url.path + (f"?{url.query}" if url.query else "") + (f"#{url.fragment}" if url.fragment else "")


async def proxy(server: APIServer, request: Request) -> Response:
    """Serve a ``.../proxy[/...]`` request (routes for nodes, pods and services lead here)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    segments = raw.decode("latin-1").split("?", 1)[0].split("/")
    # ['', 'api', 'v1', 'nodes', name, 'proxy', ...] or ['', 'api', 'v1', 'namespaces', ns, kind, name, 'proxy', ...]
    names = [unquote(x) for x in segments]
    if len(segments) > 5 and segments[3] == "nodes" and segments[5] == "proxy":
        at = 5
        target = await _node_target(server, names[4])
    elif len(segments) > 7 and segments[5] == "pods" and segments[7] == "proxy":
        at = 7
        target = await _pod_target(server, names[4], names[6])
    elif len(segments) > 7 and segments[5] == "services" and segments[7] == "proxy":
        at = 7
        target = await _service_target(server, names[4], names[6])
    else:
        raise errors.not_found_path()
    prefix = "/".join(segments[:at + 1])
    rest = "/".join(segments[at + 1:])
    method = request.method
    query = request.scope.get("query_string", b"").decode("latin-1")
    if len(segments) == at + 1 and method in ("GET", "HEAD"):
        location = request.url.path + "/" + (f"?{query}" if query else "")
        return Response(status_code=301, headers={"Location": location})
    url = f"{target.scheme}://{target.hostport}/{rest}" + (f"?{query}" if query else "")
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    client_host = request.client.host if request.client else ""
    headers += [("X-Forwarded-Host", request.headers.get("host", "")), ("X-Forwarded-Proto", request.url.scheme),
                ("X-Forwarded-Uri", request.url.path)]
    if client_host:
        forwarded = request.headers.get("x-forwarded-for")
        headers.append(("X-Forwarded-For", f"{forwarded}, {client_host}" if forwarded else client_host))
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    client = httpx.AsyncClient(verify=target.tls, timeout=httpx.Timeout(None, connect=10.0),
                               follow_redirects=False)
    try:
        upstream = await client.send(client.build_request(method, url, headers=headers,
                                                          content=request.stream() if has_body else None),
                                     stream=True)
    except httpx.HTTPError as e:
        await client.aclose()
        raise _reach_error(e, target.hostport) from None
    except Exception:
        await client.aclose()
        raise

    async def body() -> Any:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        except httpx.HTTPError:
            pass
        finally:
            await upstream.aclose()
            await client.aclose()

    response = StreamingResponse(body(), upstream.status_code)
    out: list[tuple[bytes, bytes]] = []
    for k, v in upstream.headers.multi_items():
        name = k.lower()
        if name in HOP_BY_HOP:
            continue
        if name == "location":
            v = _rewrite_location(v, target, prefix)
        out.append((name.encode("latin-1"), v.encode("latin-1")))
    response.raw_headers = out
    return response
