"""Container logs in the CRI format upstream's runtimes write, and reading them back for ``kubectl logs``.

Each line of a log file is ``<RFC3339Nano time> <stdout|stderr> <F|P> <content>``: ``F`` ends a line,
``P`` is part of a longer one (no newline yet). One file per container attempt:
``<root>/<namespace>_<pod>_<uid>/<container>/<attempt>.log``, as in /var/log/pods.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano: nine fraction digits with trailing zeros trimmed."""
    secs, frac = divmod(ns, 10**9)
    base = dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def parse_time(text: str) -> float:
    """RFC3339 (with any fraction) -> epoch seconds."""
    main, _, rest = text.rstrip("Z").partition(".")
    base = dt.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC).timestamp()
    return base + (float("0." + rest) if rest.isdigit() else 0.0)


def log_path(root: Path, pod: dict[str, object], container: str, attempt: int) -> Path:
    meta = pod["metadata"]
    assert isinstance(meta, dict)
    return root / f"{meta['namespace']}_{meta['name']}_{meta['uid']}" / container / f"{attempt}.log"


class LogWriter:
    """Appends CRI lines; every write is flushed so followers see it at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[bytes] | None = open(path, "ab")  # noqa: SIM115 - closed in close()

    def write(self, stream: str, chunk: bytes) -> None:
        """``chunk`` is one line with its newline, or a partial line without."""
        if self._file is None or not chunk:
            return
        full = chunk.endswith(b"\n")
        content = chunk[:-1] if full else chunk
        stamp = rfc3339nano(time.time_ns()).encode()
        self._file.write(stamp + b" " + stream.encode() + (b" F " if full else b" P ") + content + b"\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    since: float | None = None  # epoch seconds
    timestamps: bool = False
    limit_bytes: int | None = None


def _parse(line: bytes) -> tuple[str, str, bool, bytes] | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    content = parts[3] if len(parts) == 4 else b""
    return parts[0].decode(), parts[1].decode(), parts[2] == b"F", content


class _Assembler:
    """Joins P parts into whole messages and formats them per the options."""

    def __init__(self, opts: LogOptions) -> None:
        self.opts = opts
        self.pending: dict[str, tuple[str, bytes]] = {}

    def feed(self, line: bytes) -> tuple[str, bytes] | None:
        parsed = _parse(line)
        if parsed is None:
            return None
        stamp, stream, full, content = parsed
        first_stamp, acc = self.pending.pop(stream, (stamp, b""))
        acc += content
        if not full:
            self.pending[stream] = (first_stamp, acc)
            return None
        return first_stamp, acc + b"\n"

    def render(self, stamp: str, content: bytes) -> bytes | None:
        if self.opts.since is not None and parse_time(stamp) < self.opts.since:
            return None
        return (stamp.encode() + b" " + content) if self.opts.timestamps else content


async def read_log(path: Path, opts: LogOptions, *, running: Callable[[], bool],
                   poll: float = 0.1) -> AsyncIterator[bytes]:
    """The log as ``kubectl logs`` shows it. With ``follow`` it keeps reading until the container stops
    running (``running()`` false and nothing new) or the consumer stops iterating."""
    asm = _Assembler(opts)
    budget = opts.limit_bytes
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    try:
        messages = []
        for line in f.read().splitlines(keepends=True):
            if not line.endswith(b"\n"):  # a line being written: leave it for the follow loop
                f.seek(-len(line), 1)
                break
            msg = asm.feed(line)
            if msg is not None:
                messages.append(msg)
        if opts.tail_lines is not None:
            messages = messages[-opts.tail_lines:] if opts.tail_lines > 0 else []
        out = b"".join(r for m in messages if (r := asm.render(*m)) is not None)
        if out:
            if budget is not None:
                out = out[:budget]
                budget -= len(out)
            yield out
        if not opts.follow or (budget is not None and budget <= 0):
            return
        partial = b""
        idle_after_exit = 0
        while True:
            data = f.read()
            if data:
                idle_after_exit = 0
                lines = (partial + data).splitlines(keepends=True)
                partial = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
                out = b"".join(r for line in lines if (m := asm.feed(line)) is not None
                               and (r := asm.render(*m)) is not None)
                if out:
                    if budget is not None:
                        out = out[:budget]
                        budget -= len(out)
                    yield out
                    if budget is not None and budget <= 0:
                        return
                continue
            if not running():
                idle_after_exit += 1
                if idle_after_exit > 2:  # the writer's last lines had time to land
                    return
            await asyncio.sleep(poll)
    finally:
        f.close()
