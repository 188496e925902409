"""Container logs in the CRI format upstream's runtimes write, and reading them back for ``kubectl logs``.

Each line of a log file is ``<RFC3339Nano time> <stdout|stderr> <F|P> <content>``: ``F`` ends a line,
``P`` is part of a longer one (no newline yet). One file per container attempt:
``<root>/<namespace>_<pod>_<uid>/<container>/<attempt>.log``, as in /var/log/pods.

Rotation (upstream's containerLogMaxSize / containerLogMaxFiles, 10Mi and 5): once a file exceeds the
size, before the next write, it is renamed ``<attempt>.log.<YYYYMMDD-HHMMSS>`` (UTC) and a new one started; rotated files but the
newest are gzip-compressed (``.gz``) in a background thread, and the oldest removed so that at most
max-files files (the current one included) remain. As upstream, ``kubectl logs`` reads the current file
only. Upstream checks every 10 s; here the writer checks before each write, at most one rotation per
second (two in one second would share a name), so a file may pass the size for under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import os
import shutil
import threading
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


DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 5


@dataclass(frozen=True)
class LogLimits:
    """The kubelet's containerLogMaxSize (bytes) and containerLogMaxFiles (at least 2, the current one
    included)."""

    max_size: int = DEFAULT_MAX_SIZE
    max_files: int = DEFAULT_MAX_FILES


def rotated_files(path: Path) -> list[Path]:
    """The rotated files of a log, oldest first (the timestamp in the name orders them)."""
    prefix = path.name + "."
    return sorted((p for p in path.parent.glob(prefix + "*") if p.name[len(prefix):len(prefix) + 8].isdigit()),
                  key=lambda p: p.name.removesuffix(".gz"))


_compress_lock = threading.Lock()


def compress_and_prune(path: Path, max_files: int) -> None:
    """Gzip every rotated file of ``path`` but the newest; keep the newest ``max_files - 1`` of them."""
    with _compress_lock:
        rotated = rotated_files(path)
        for old in rotated[:-1]:
            if old.suffix == ".gz":
                continue
            target = old.with_name(old.name + ".gz")
            try:
                with open(old, "rb") as src, gzip.open(str(target) + ".tmp", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(str(target) + ".tmp", target)
                old.unlink()
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(str(target) + ".tmp")
        rotated = rotated_files(path)
        for old in rotated[:max(len(rotated) - (max_files - 1), 0)]:
            with contextlib.suppress(OSError):
                old.unlink()


class LogWriter:
    """Appends CRI lines; every write is flushed so followers see it at once. Rotates per ``limits``."""

    def __init__(self, path: Path, limits: LogLimits | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.limits = limits or LogLimits()
        self._file: IO[bytes] | None = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._size = self._file.tell()
        self._threads: list[threading.Thread] = []

    def write(self, stream: str, chunk: bytes) -> None:
        """``chunk`` is one line with its newline, or a partial line without."""
        if self._file is None or not chunk:
            return
        if self._size > self.limits.max_size:  # before the write: the current file is never left empty
            self.rotate()
        full = chunk.endswith(b"\n")
        content = chunk[:-1] if full else chunk
        stamp = rfc3339nano(time.time_ns()).encode()
        line = stamp + b" " + stream.encode() + (b" F " if full else b" P ") + content + b"\n"
        self._file.write(line)
        self._file.flush()
        self._size += len(line)

    def rotate(self) -> bool:
        """Start a new file now (False when a file was already rotated within this second)."""
        if self._file is None:
            return False
        target = self.path.with_name(f"{self.path.name}.{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}")
        if target.exists() or target.with_name(target.name + ".gz").exists():
            return False
        self._file.close()
        os.replace(self.path, target)
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._size = 0
        self._threads = [t for t in self._threads if t.is_alive()]
        t = threading.Thread(target=compress_and_prune, args=(self.path, self.limits.max_files), daemon=True,
                             name="log-rotate")
        t.start()
        self._threads.append(t)
        return True

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


def _rotated_away(path: Path, f: IO[bytes]) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except OSError:
        return False


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
            if _rotated_away(path, f):  # the writer started a new file: go on with it
                try:
                    new = open(path, "rb")  # noqa: SIM115 - closed below
                except OSError:
                    await asyncio.sleep(poll)
                    continue
                f.close()
                f = new
                continue
            if not running():
                idle_after_exit += 1
                if idle_after_exit > 2:  # the writer's last lines had time to land
                    return
            await asyncio.sleep(poll)
    finally:
        f.close()


def container_log_limits(max_size: str, max_files: int) -> LogLimits:
    """The kubelet flags ``--container-log-max-size`` (a quantity) and ``--container-log-max-files``;
    ValueError with the reason when invalid (upstream's validation: max files at least 2)."""
    from schemas import quantity

    try:
        size = quantity.parse(max_size)[0]
    except (ValueError, TypeError) as e:
        raise ValueError(f"invalid --container-log-max-size {max_size!r}: {e}") from None
    if size <= 0:
        raise ValueError("--container-log-max-size must be positive")
    if max_files < 2:
        raise ValueError(f"invalid configuration: containerLogMaxFiles (--container-log-max-files) {max_files} "
                         "must be equal to or greater than 2")
    return LogLimits(max_size=int(size), max_files=max_files)
