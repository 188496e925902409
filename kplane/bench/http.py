"""A lean HTTP/1.1 client on asyncio streams: one keep-alive connection per in-flight request, bodies
as bytes, chunked and Content-Length responses, and line-by-line streaming for watches.

It exists so the load generator spends its CPU on requests, not on a general-purpose client's layers
(httpx costs several times the CPU per request of this). It speaks only to the kubeconfig's server:
no proxies, no redirects.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from .kubeconfig import ClusterConfig, ssl_context

STREAM_LIMIT = 1 << 20  # longest header block / line the reader accepts
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


class HTTPClientError(Exception):
    """The connection failed or the response could not be parsed."""


class _Stale(Exception):
    """A reused keep-alive connection was closed by the server before it answered."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return orjson.loads(self.body)

    def describe(self, method: str, target: str) -> str:
        text = self.body[:200].decode(errors="replace").replace("\n", " ")
        return f"{method} {target.split('?', 1)[0]} -> {self.status} {text}"


class Endpoint:
    """Where and how to connect, and the headers every request carries; built once per process."""

    def __init__(self, cfg: ClusterConfig, *, user_agent: str = "kplane-bench/1") -> None:
        self.host = cfg.host
        self.port = cfg.port
        self.prefix = cfg.path_prefix
        self.ssl: ssl.SSLContext | None = ssl_context(cfg) if cfg.tls else None
        self.server_hostname = (cfg.tls_server_name or cfg.host) if cfg.tls else None
        host_header = cfg.host if ":" not in cfg.host else f"[{cfg.host}]"
        default_port = 443 if cfg.tls else 80
        if cfg.port != default_port:
            host_header += f":{cfg.port}"
        lines = [f"Host: {host_header}", f"User-Agent: {user_agent}", "Accept: application/json"]
        auth = cfg.auth_header()
        if auth:
            lines.append(f"Authorization: {auth}")
        self.headers = ("\r\n".join(lines) + "\r\n").encode("latin-1")

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, ssl=self.ssl,
                                             server_hostname=self.server_hostname, limit=STREAM_LIMIT)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
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
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return status, headers


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
    it (a stale keep-alive connection is retried once on a fresh one)."""

    def __init__(self, endpoint: Endpoint, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def connect(self) -> None:
        if self._writer is None:
            async with asyncio.timeout(self.timeout):
                self._reader, self._writer = await self.endpoint.connect()

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    def _request_bytes(self, method: str, target: str, body: bytes | None, content_type: str | None) -> bytes:
        head = f"{method} {self.endpoint.prefix}{target} HTTP/1.1\r\n".encode("latin-1") + self.endpoint.headers
        if body is not None:
            head += f"Content-Type: {content_type or JSON}\r\nContent-Length: {len(body)}\r\n".encode("latin-1")
        elif method in ("POST", "PUT", "PATCH"):
            head += b"Content-Length: 0\r\n"
        return head + b"\r\n" + (body or b"")

    async def request(self, method: str, target: str, body: bytes | None = None,
                      content_type: str | None = None) -> Response:
        """Send one request and read the whole response. Raises HTTPClientError, OSError or TimeoutError."""
        for attempt in range(2):
            fresh = self._writer is None
            try:
                async with asyncio.timeout(self.timeout):
                    if fresh:
                        await self.connect()
                    return await self._roundtrip(method, target, body, content_type)
            except _Stale as e:
                await self.close()
                if fresh or attempt:
                    raise HTTPClientError("the server closed the connection without answering") from e
            except asyncio.IncompleteReadError as e:
                await self.close()
                raise HTTPClientError(f"the response ended early ({len(e.partial)} bytes)") from e
            except (asyncio.LimitOverrunError, ValueError) as e:
                await self.close()
                raise HTTPClientError(f"malformed response: {e}") from e
            except BaseException:
                await self.close()
                raise
        raise AssertionError("unreachable")

    async def _roundtrip(self, method: str, target: str, body: bytes | None, content_type: str | None) -> Response:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        try:
            writer.write(self._request_bytes(method, target, body, content_type))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if not e.partial:
                raise _Stale() from e
            raise
        except (ConnectionResetError, BrokenPipeError) as e:
            raise _Stale() from e
        status, headers = _parse_head(head[:-4])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif headers.get("transfer-encoding", "").lower().endswith("chunked"):
            data = await _read_chunked(reader)
        elif "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        else:
            data = await reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, data)


class WatchStream:
    """A streaming GET (a watch) on a connection of its own: ``open()`` sends it and reads the head;
    ``lines()`` yields (arrival time, line) for every newline-terminated line of the body, the arrival
    time being ``time.monotonic()`` when the chunk carrying the line's end was read."""

    def __init__(self, endpoint: Endpoint, target: str, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.target = target
        self.timeout = timeout
        self.status = 0
        self.error = ""
        self._conn = Connection(endpoint, timeout)
        self._chunked = False

    async def open(self) -> bool:
        """True if the server answered 200; otherwise ``error`` says what it answered."""
        conn = self._conn
        async with asyncio.timeout(self.timeout):
            await conn.connect()
            reader, writer = conn._reader, conn._writer
            assert reader is not None and writer is not None
            writer.write(conn._request_bytes("GET", self.target, None, None))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            self.status, headers = _parse_head(head[:-4])
            self._chunked = headers.get("transfer-encoding", "").lower().endswith("chunked")
            if self.status != 200:
                if self._chunked:
                    body = await _read_chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.error = Response(self.status, headers, body).describe("GET", self.target)
                await conn.close()
                return False
        return True

    async def lines(self) -> AsyncIterator[tuple[float, bytes]]:
        reader = self._conn._reader
        assert reader is not None
        pending = b""
        while True:
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
            now = time.monotonic()
            if pending:
                data = pending + data
            *complete, pending = data.split(b"\n")
            for line in complete:
                if line.strip():
                    yield now, line

    async def close(self) -> None:
        await self._conn.close()
