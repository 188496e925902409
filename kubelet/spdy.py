"""Port-forward as kubectl speaks it: SPDY/3.1 streams tunnelled through a WebSocket
(subprotocol ``SPDY/3.1+portforward.k8s.io``; every binary message is a piece of one SPDY byte stream).

Per forwarded connection the client opens two streams with headers ``streamtype`` (``error`` | ``data``),
``port`` and ``requestid``; we reply to each (SYN_REPLY), connect to the port in the pod, relay the data
stream both ways, and end both streams with FIN when the pod side closes (an error message, if any, goes
on the error stream first). PINGs are echoed. SPDY/3 framing: control frames ``0x8003 type flags len24``,
data frames ``stream-id flags len24``; header blocks are zlib-compressed with the protocol's dictionary.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Awaitable, Callable

from .network import dial

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
#: the same, as the API server asks for it (the websockets library accepts only HTTP tokens)
PROTOCOL_ALIAS = "spdy-tunnel.portforward.kplane.dev"

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01

_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age "
    "allow authorization cache-control connection content-base content-encoding content-language content-length "
    "content-location content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status|200 OK|version HTTP/1.1 url public set-cookie "
    "keep-alive origin"
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    """SPDY/3's zlib dictionary (draft 3, section 2.6.10.1): length-prefixed words, then a raw tail."""
    words: list[str] = []
    for part in _WORDS.split("|"):
        words += [part] if " " in part and part[0].isdigit() else part.split()
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + _TAIL.encode()


DICTIONARY = _dictionary()


class Framer:
    """Parses frames from the incoming byte stream; builds outgoing frames."""

    def __init__(self) -> None:
        self._buf = b""
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(9, zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[tuple[bool, int, int, bytes]]:
        """(control, type-or-stream-id, flags, payload) for every frame completed by ``data``."""
        self._buf += data
        out = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                break
            head, payload, self._buf = self._buf[:8], self._buf[8:8 + length], self._buf[8 + length:]
            control = bool(head[0] & 0x80)
            ident = int.from_bytes(head[2:4], "big") if control else int.from_bytes(head[0:4], "big") & 0x7FFFFFFF
            out.append((control, ident, head[4], payload))
        return out

    def headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        count, pos, out = int.from_bytes(raw[:4], "big"), 4, {}
        for _ in range(count):
            n = int.from_bytes(raw[pos:pos + 4], "big")
            name = raw[pos + 4:pos + 4 + n].decode(errors="replace")
            pos += 4 + n
            n = int.from_bytes(raw[pos:pos + 4], "big")
            out[name.lower()] = raw[pos + 4:pos + 4 + n].decode(errors="replace")
            pos += 4 + n
        return out

    def control(self, ftype: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8003, ftype, (flags << 24) | len(payload)) + payload

    def reply(self, stream_id: int) -> bytes:
        block = self._deflate.compress(b"\x00\x00\x00\x00") + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self.control(SYN_REPLY, 0, struct.pack(">I", stream_id) + block)

    @staticmethod
    def data(stream_id: int, payload: bytes, *, fin: bool = False) -> bytes:
        return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload


async def serve(receive: Callable[[], Awaitable[bytes | None]], send: Callable[[bytes], Awaitable[None]],
                host: str, netns: int | None = None) -> None:
    """Run one port-forward session until the client goes away (``receive`` returns None) or says GOAWAY."""
    framer = Framer()
    pairs: dict[str, dict[str, int]] = {}  # requestid -> {"error": sid, "data": sid, "port": P}
    inbound: dict[int, asyncio.Queue[bytes | None]] = {}  # data stream id -> bytes for the pod (None: FIN)
    tasks: set[asyncio.Task[None]] = set()

    async def relay(data_sid: int, error_sid: int, port: int) -> None:
        try:
            reader, writer = await asyncio.wait_for(dial(host, port, netns), 5)
        except (OSError, TimeoutError) as e:
            msg = f"error forwarding port {port} to pod: dial tcp {host}:{port}: {e}"
            await send(framer.data(error_sid, msg.encode(), fin=True))
            await send(framer.data(data_sid, b"", fin=True))
            return

        async def to_pod() -> None:  # what the client sent, including what came before we connected
            queue = inbound[data_sid]
            while (chunk := await queue.get()) is not None:
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        upload = asyncio.create_task(to_pod())
        try:
            while chunk := await reader.read(32768):
                await send(framer.data(data_sid, chunk))
        except ConnectionError:
            pass
        finally:
            upload.cancel()
            writer.close()
            inbound.pop(data_sid, None)
        await send(framer.data(data_sid, b"", fin=True))
        await send(framer.data(error_sid, b"", fin=True))

    try:
        while (chunk := await receive()) is not None:
            for control, ident, flags, payload in framer.feed(chunk):
                if not control:
                    queue = inbound.get(ident)
                    if queue is not None:
                        if payload:
                            queue.put_nowait(payload)
                        if flags & FLAG_FIN:
                            queue.put_nowait(None)
                elif ident == SYN_STREAM:
                    sid = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
                    headers = framer.headers(payload[10:])
                    await send(framer.reply(sid))
                    kind = headers.get("streamtype", "data")
                    pair = pairs.setdefault(headers.get("requestid", str(sid)), {})
                    pair[kind] = sid
                    pair["port"] = int(headers.get("port", "0") or 0)
                    if kind == "data":
                        inbound[sid] = asyncio.Queue()
                    if "error" in pair and "data" in pair:
                        task = asyncio.create_task(relay(pair["data"], pair["error"], pair["port"]))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                elif ident == PING:
                    await send(framer.control(PING, 0, payload))
                elif ident == RST_STREAM:
                    queue = inbound.get(int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF)
                    if queue is not None:
                        queue.put_nowait(None)
                elif ident == GOAWAY:
                    return
    finally:
        for t in list(tasks):
            t.cancel()
