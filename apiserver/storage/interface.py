"""The storage contract: keys and bytes with revisions, nothing Kubernetes-specific.

Every backend (memory, SQLite, etcd) implements :class:`Backend`. Revisions are one global,
strictly increasing integer per backend (etcd's ``mod_revision``); an object's resourceVersion is the
revision of its last write. Keys look like ``/registry/<resource>/<namespace>/<name>``.

Two kinds of outcome:

* A failed compare (create of an existing key, update/delete at a stale or missing revision) is not an
  exception: the write returns ``WriteResult(ok=False, current=<the current kv or None>)`` so the caller
  can retry without a second read.
* Reading or watching below the compacted revision raises :class:`Compacted`. Anything else that goes
  wrong (connection lost, disk full) raises :class:`StorageError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol


class StorageError(Exception):
    """The backend could not do what was asked (unreachable, I/O error, timeout)."""


class Compacted(StorageError):
    """The requested revision is older than what the backend still keeps."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} has been compacted (compacted revision {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevision(StorageError):
    """The requested revision is newer than the backend's current revision."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is newer than the current revision {current}")
        self.requested = requested
        self.current = current


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class WriteResult:
    """``ok``: the compare held and the write happened at ``revision``.

    When ``ok`` is False, ``current`` is the key's current value (None when the key does not exist) and
    ``revision`` is the backend's current revision.
    """

    ok: bool
    revision: int
    current: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class ListResult:
    """Keys in ascending byte order. ``revision`` is the revision the list was read at;
    ``more`` says keys beyond the last returned one exist (at that revision)."""

    items: list[KeyValue]
    revision: int
    more: bool


EventType = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Event:
    """One write. For ``delete`` the ``value`` is empty and ``prev`` is the deleted value.

    ``prev`` is the value before this write (None for ``create``): watchers filter with it
    (an object that stops matching a selector is a DELETED for that watcher).
    """

    type: EventType
    key: str
    value: bytes
    revision: int
    create_revision: int
    prev: bytes | None


class Backend(Protocol):
    """What the API server needs from a store. All methods are coroutines and safe to call concurrently."""

    async def start(self) -> None:
        """Open connections/files; after it returns every other method may be called."""

    async def close(self) -> None:
        """Release everything. Open ``watch`` iterators end."""

    async def get(self, key: str) -> KeyValue | None:
        """The current value of ``key``, None when it does not exist."""

    async def list(
        self, prefix: str, *, start_key: str = "", limit: int = 0, revision: int = 0
    ) -> ListResult:
        """Keys starting with ``prefix`` (and >= ``start_key`` if given), at most ``limit`` of them
        (0 = all), as of ``revision`` (0 = current).

        Raises Compacted when ``revision`` is below the compacted revision, FutureRevision when it is
        above the current one.
        """

    async def count(self, prefix: str) -> int:
        """How many keys start with ``prefix`` now."""

    async def create(self, key: str, value: bytes) -> WriteResult:
        """Write ``key`` only if it does not exist. Exists -> ok=False with the current kv."""

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> WriteResult:
        """Write ``key`` only if its mod_revision equals ``expected_revision``.

        Missing key -> ok=False, current=None. Other revision -> ok=False with the current kv.
        """

    async def delete(self, key: str, *, expected_revision: int) -> WriteResult:
        """Delete ``key`` only if its mod_revision equals ``expected_revision``
        (0 = whatever it is). Missing -> ok=False, current=None; stale -> ok=False with current kv.
        On success ``current`` is the deleted kv."""

    async def current_revision(self) -> int:
        """The newest revision (0 for an empty store that has never been written)."""

    async def compacted_revision(self) -> int:
        """As etcd: the state at this revision and later can be read; older revisions cannot
        (0 = nothing was ever compacted)."""

    async def compact(self, revision: int) -> None:
        """Forget the history before ``revision`` (the state at ``revision`` and every key's latest
        value are kept). Compacting at or below the compacted revision does nothing."""

    def watch(self, *, after: int) -> AsyncIterator[Event]:
        """Every event with revision > ``after`` in revision order, then live events until closed.

        Raises Compacted (on the first iteration) when event ``after + 1`` is no longer kept,
        i.e. ``after + 1 < compacted_revision()``.
        The iterator ends only when the backend closes; reconnects are the backend's business.
        """
