"""A lean HTTP/1.1 client on asyncio streams: keep-alive connections, bodies as bytes, chunked and
Content-Length responses, and line-by-line streaming for watches.

It exists so components (a kubelet carrying a thousand simulated nodes, the scheduler, the
controller-manager) and the load generator spend their CPU on requests, not on a general-purpose
client's layers. It speaks only to one server: no proxies, no redirects, no compression.

Every transport failure is an :class:`OSError`: :class:`HTTPClientError` (closed or malformed
responses), :class:`TimeoutError`, ``ssl.SSLError``, ``ConnectionRefusedError``...

Retrying a request on a stale keep-alive connection (the server closed it while it sat idle):

* before reuse, a connection the server has already closed (EOF seen by the event loop) or one idle
  for longer than ``MAX_IDLE_S`` is dropped and a fresh one used; nothing was sent, nothing to decide;
* if writing the request fails on a reused connection, the server had reset the connection before the
  request was complete, so it cannot have acted on it: any method is retried once on a fresh one;
* if the request was written but the connection ended before a single response byte, the server may
  or may not have processed it. Only idempotent methods (RFC 9110: GET, HEAD, OPTIONS, PUT, DELETE) are
  retried: a replayed Kubernetes PUT meets its own resourceVersion precondition (409) or rewrites the same
  object, a replayed DELETE answers 404. POST and PATCH (a JSON patch may append) are not: the error
  goes to the caller, as Go's net/http does for non-replayable requests.

A fresh connection is never retried.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

STREAM_LIMIT = 1 << 20  # longest header block / line the reader accepts
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
MAX_IDLE_S = 90.0  # client-go's IdleConnTimeout
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
CLOSE_TIMEOUT_S = 5.0


class HTTPClientError(OSError):
    """The connection failed or the response could not be parsed."""


class _Stale(Exception):
    """A reused keep-alive connection was closed by the server before it answered."""

    def __init__(self, sent: bool) -> None:
        super().__init__("sent" if sent else "not sent")
        self.sent = sent


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.body)

    def describe(self, method: str, target: str) -> str:
        text = self.body[:200].decode(errors="replace").replace("\n", " ")
        return f"{method} {target.split('?', 1)[0]} -> {self.status} {text}"


class Endpoint:
    """Where and how to connect, and the headers every request carries; built once per client."""

    def __init__(self, server: str, *, ssl_context: ssl.SSLContext | None = None, server_name: str | None = None,
                 authorization: str | None = None, user_agent: str = "kplane") -> None:
        parts = urlsplit(server)
        tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if tls else 80)
        self.prefix = parts.path.rstrip("/")  # a server URL may carry a path (a proxy in front)
        self.ssl: ssl.SSLContext | None = (ssl_context or ssl.create_default_context()) if tls else None
        self.server_hostname = (server_name or self.host) if tls else None
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        if self.port != (443 if tls else 80):
            host_header += f":{self.port}"
        lines = [f"Host: {host_header}", f"User-Agent: {user_agent}", "Accept: application/json"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        self.headers = ("\r\n".join(lines) + "\r\n").encode("latin-1")

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, ssl=self.ssl,
                                             server_hostname=self.server_hostname, limit=STREAM_LIMIT)


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """(status, headers, keep-alive) of a response head without its final blank line."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HTTPClientError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError as e:
        raise HTTPClientError(f"bad status line {lines[0][:80]!r}") from e
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (parts[0] != b"HTTP/1.0" or connection == "keep-alive")
    return status, headers, keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class Connection:
    """One keep-alive connection; requests on it are sequential. Reconnects when the server has closed
    it; a stale reused connection is retried once on a fresh one where that is safe (see the module).
    ``owner``, if given, holds the connection while it is open (so a pool can close them all)."""

    def __init__(self, endpoint: Endpoint, timeout: float = 30.0, owner: set[Connection] | None = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.owner = owner
        self.idle_since = 0.0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    def reusable(self, now: float) -> bool:
        """Open, not closed by the server meanwhile, and not idle for too long."""
        reader, writer = self._reader, self._writer
        return (reader is not None and writer is not None and not reader.at_eof()
                and not writer.transport.is_closing() and now - self.idle_since < MAX_IDLE_S)

    async def connect(self) -> None:
        if self._writer is None:
            async with asyncio.timeout(self.timeout):
                self._reader, self._writer = await self.endpoint.connect()
            if self.owner is not None:
                self.owner.add(self)

    async def close(self) -> None:
        """Close politely (TLS close_notify included), waiting a bounded time for it."""
        writer = self._detach()
        if writer is not None:
            writer.close()
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await writer.wait_closed()
            except (OSError, ssl.SSLError):  # TimeoutError included
                writer.transport.abort()

    def abort(self) -> None:
        """Drop the connection at once, without awaiting: for error and cancellation paths."""
        writer = self._detach()
        if writer is not None:
            writer.transport.abort()

    def _detach(self) -> asyncio.StreamWriter | None:
        writer, self._reader, self._writer = self._writer, None, None
        if self.owner is not None:
            self.owner.discard(self)
        return writer

    def _request_bytes(self, method: str, target: str, body: bytes | None, content_type: str | None) -> bytes:
        head = f"{method} {self.endpoint.prefix}{target} HTTP/1.1\r\n".encode("latin-1") + self.endpoint.headers
        if body is not None:
            head += f"Content-Type: {content_type or JSON}\r\nContent-Length: {len(body)}\r\n".encode("latin-1")
        elif method in ("POST", "PUT", "PATCH"):
            head += b"Content-Length: 0\r\n"
        return head + b"\r\n" + (body or b"")

    async def request(self, method: str, target: str, body: bytes | None = None,
                      content_type: str | None = None) -> Response:
        """Send one request and read the whole response within ``timeout`` seconds (retries included).
        Raises HTTPClientError, another OSError, or TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        for attempt in range(2):
            if self._writer is not None and not self.reusable(loop.time()):
                self.abort()
            fresh = self._writer is None
            try:
                async with asyncio.timeout_at(deadline):
                    if fresh:
                        await self.connect()
                    response = await self._roundtrip(method, target, body, content_type)
                self.idle_since = loop.time()
                return response
            except _Stale as e:
                self.abort()
                if fresh or attempt or (e.sent and method not in IDEMPOTENT):
                    raise HTTPClientError("the server closed the connection without answering") from e
            except asyncio.IncompleteReadError as e:
                self.abort()
                raise HTTPClientError(f"the response ended early ({len(e.partial)} bytes)") from e
            except ssl.SSLError:  # a ValueError too, for certificate verification
                self.abort()
                raise
            except (asyncio.LimitOverrunError, ValueError) as e:
                self.abort()
                raise HTTPClientError(f"malformed response: {e}") from e
            except BaseException:
                self.abort()
                raise
        raise AssertionError("unreachable")

    async def _roundtrip(self, method: str, target: str, body: bytes | None, content_type: str | None) -> Response:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        try:
            writer.write(self._request_bytes(method, target, body, content_type))
            await writer.drain()
        except ConnectionError as e:  # reset or broken pipe: the server never got the whole request
            raise _Stale(sent=False) from e
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if not e.partial:
                raise _Stale(sent=True) from e
            raise
        except ConnectionResetError as e:
            raise _Stale(sent=True) from e
        status, headers, keep_alive = _parse_head(head[:-4])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif headers.get("transfer-encoding", "").lower().endswith("chunked"):
            data = await _read_chunked(reader)
        elif "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        else:
            data = await reader.read()
            keep_alive = False
        if not keep_alive:
            self.abort()  # the server closes it, or has
        return Response(status, headers, data)


class Pool:
    """Keep-alive connections to one endpoint: any number in flight, at most ``max_idle`` kept idle
    (the most recently used ones are reused first, so surplus ones idle out). Watches get connections of
    their own. ``close()`` closes every open connection, in flight or idle."""

    def __init__(self, endpoint: Endpoint, *, timeout: float = 30.0, max_idle: int = 32) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._closed = False

    async def request(self, method: str, target: str, body: bytes | None = None,
                      content_type: str | None = None) -> Response:
        if self._closed:
            raise HTTPClientError("the client is closed")
        conn = self._idle.pop() if self._idle else Connection(self.endpoint, self.timeout, self._open)
        response = await conn.request(method, target, body, content_type)  # closes conn on any error
        if conn.connected:
            if len(self._idle) < self.max_idle and not self._closed:
                self._idle.append(conn)
            else:
                await conn.close()
        return response

    def stream(self, target: str, timeout: float) -> WatchStream:
        """A streaming GET on a new connection of its own, counted among this pool's open ones."""
        if self._closed:
            raise HTTPClientError("the client is closed")
        return WatchStream(self.endpoint, target, timeout, owner=self._open)

    async def close(self) -> None:
        self._closed = True
        self._idle.clear()
        conns = list(self._open)
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


class WatchStream:
    """A streaming GET (a watch) on a connection of its own: ``open()`` sends it and reads the head;
    ``lines()`` yields (arrival time, line) for every newline-terminated line of the body, the arrival
    time being ``time.monotonic()`` when the chunk carrying the line's end was read.

    ``timeout`` bounds connecting and reading the head; with ``deadline`` (event loop time) every read
    of the body must also finish before it (a watch's server-side timeout plus a margin)."""

    def __init__(self, endpoint: Endpoint, target: str, timeout: float = 30.0, *,
                 owner: set[Connection] | None = None) -> None:
        self.endpoint = endpoint
        self.target = target
        self.timeout = timeout
        self.status = 0
        self.error = ""
        self.body = b""  # of a response other than 200
        self._conn = Connection(endpoint, timeout, owner)
        self._chunked = False

    async def open(self) -> bool:
        """True if the server answered 200; otherwise ``error`` and ``body`` say what it answered."""
        conn = self._conn
        try:
            async with asyncio.timeout(self.timeout):
                await conn.connect()
                reader, writer = conn._reader, conn._writer
                assert reader is not None and writer is not None
                writer.write(conn._request_bytes("GET", self.target, None, None))
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                self.status, headers, _ = _parse_head(head[:-4])
                self._chunked = headers.get("transfer-encoding", "").lower().endswith("chunked")
                if self.status != 200:
                    if self._chunked:
                        self.body = await _read_chunked(reader)
                    else:
                        self.body = await reader.readexactly(int(headers.get("content-length", "0")))
                    self.error = Response(self.status, headers, self.body).describe("GET", self.target)
                    await conn.close()
                    return False
        except asyncio.IncompleteReadError as e:
            conn.abort()
            raise HTTPClientError(f"the response ended early ({len(e.partial)} bytes)") from e
        except ssl.SSLError:
            conn.abort()
            raise
        except (asyncio.LimitOverrunError, ValueError) as e:
            conn.abort()
            raise HTTPClientError(f"malformed response: {e}") from e
        except BaseException:
            conn.abort()
            raise
        return True

    async def lines(self, deadline: float | None = None) -> AsyncIterator[tuple[float, bytes]]:
        reader = self._conn._reader
        assert reader is not None
        pending = b""
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    if self._chunked:
                        size_line = await reader.readuntil(b"\r\n")
                        size = int(size_line.split(b";", 1)[0].strip(), 16)
                        if size == 0:
                            return
                        data = await reader.readexactly(size)
                        await reader.readexactly(2)
                    else:
                        data = await reader.read(65536)
                        if not data:
                            return
            except asyncio.IncompleteReadError as e:
                raise HTTPClientError("the watch stream ended inside a chunk") from e
            except ssl.SSLError:
                raise
            except (asyncio.LimitOverrunError, ValueError) as e:
                raise HTTPClientError(f"malformed watch stream: {e}") from e
            now = time.monotonic()
            if pending:
                data = pending + data
            *complete, pending = data.split(b"\n")
            for line in complete:
                if line.strip():
                    yield now, line

    async def close(self) -> None:
        await self._conn.close()
