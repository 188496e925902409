"""Storage backends behind one contract (see interface.py), chosen by URL."""

from __future__ import annotations

from pathlib import Path

from .interface import (
    Backend,
    Compacted,
    Event,
    FutureRevision,
    KeyValue,
    ListResult,
    StorageError,
    WriteResult,
)

__all__ = [
    "Backend", "Compacted", "Event", "FutureRevision", "KeyValue", "ListResult", "StorageError",
    "WriteResult", "open_backend",
]


def open_backend(url: str, *, data_dir: Path | None = None) -> Backend:
    """``memory://``, ``sqlite:///abs/path.db`` (or ``sqlite://`` for ``<data_dir>/state.db``),
    ``etcd://host:port[,host:port...]`` (``etcd+https://`` is not supported yet)."""
    if url.startswith("memory://"):
        from .memory import MemoryBackend

        return MemoryBackend()
    if url.startswith("sqlite://"):
        from .embedded import SQLiteBackend

        path = url[len("sqlite://"):]
        if not path or path == "/":
            if data_dir is None:
                raise ValueError("sqlite:// without a path needs a data dir")
            path = str(data_dir / "state.db")
        return SQLiteBackend(Path(path))
    if url.startswith("etcd://"):
        from .etcd import EtcdBackend

        endpoints = [e for e in url[len("etcd://"):].rstrip("/").split(",") if e]
        return EtcdBackend(endpoints)
    raise ValueError(f"unsupported storage URL {url!r}: use memory://, sqlite:///path or etcd://host:port")
