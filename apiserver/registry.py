"""The generic Store: create/get/list/update/delete with upstream semantics over any Backend.

Per-resource behaviour lives in strategies (strategy.py); the Store is the only code that knows the
order of the hooks. Storage outcomes (a failed compare, a compacted revision) are translated into
Status errors here and nowhere else.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from schemas import selectors
from schemas.fielderrors import FieldError, invalid, required

from . import errors
from .kinds import ResourceInfo
from .storage import Backend, Compacted, FutureRevision, KeyValue, StorageError
from .storage.cache import Index, WatchCache
from .strategy import Strategy

Obj = dict[str, Any]
Transform = Callable[[Obj], Awaitable[Obj]]

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"

# Validation hooks the app may install (schemas/ rules); called after the strategy's prepare hooks.
Validator = Callable[[ResourceInfo, Obj, Obj | None], list[FieldError]]


_now_cache: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """The current time to the second (RFC 3339, UTC), formatted once per second."""
    global _now_cache
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache = (second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _now_cache[1]


def encode(obj: Obj) -> bytes:
    """Objects are stored without resourceVersion (it is the key's mod_revision)."""
    meta = obj["metadata"]
    rv = meta.pop("resourceVersion", None)
    try:
        return orjson.dumps(obj)
    finally:
        if rv is not None:
            meta["resourceVersion"] = rv


def decode(value: bytes, revision: int) -> Obj:
    obj: Obj = orjson.loads(value)
    obj["metadata"]["resourceVersion"] = str(revision)
    return obj


def decode_kv(kv: KeyValue) -> Obj:
    return decode(kv.value, kv.mod_revision)


@dataclass
class ListOptions:
    label_selector: selectors.LabelSelector = ()
    field_selector: selectors.FieldSelector = ()
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


def encode_continue(rv: int, start: str) -> str:
    return base64.urlsafe_b64encode(
        orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    ).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError
        rv, start = int(data["rv"]), str(data["start"])
        if rv == 0 or "/" in start.rstrip("\x00").split("/", 1)[0] or start.startswith(".."):
            raise ValueError
        return rv, start
    except Exception:
        raise errors.bad_request('continue key is not valid: incorrect encoded start resourceVersion '
                                 '(version meta.k8s.io/v1)') from None


CACHE_WAIT = 3.0  # upstream's blockTimeout: how long a read waits for the watch cache to catch up


def parse_rv(raw: str) -> int:
    try:
        value = int(raw)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {raw}") from None


def too_large_resource_version(requested: int, current: int) -> errors.StatusError:
    """504 as upstream's storage.NewTooLargeResourceVersionError (clients retry on the cause)."""
    return errors.StatusError(
        504, "Timeout", f"Timeout: Too large resource version: {requested}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
         "retryAfterSeconds": 1})


def matches(info: ResourceInfo, obj: Obj, opts: ListOptions) -> bool:
    meta = obj.get("metadata") or {}
    if opts.label_selector and not selectors.labels_match(opts.label_selector, meta.get("labels")):
        return False
    if opts.field_selector:
        attrs = field_attrs(info, obj)
        if not selectors.fields_match(opts.field_selector, attrs):
            return False
    return True


def field_attrs(info: ResourceInfo, obj: Obj) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    attrs = {"metadata.name": meta.get("name", "")}
    if info.namespaced:
        attrs["metadata.namespace"] = meta.get("namespace", "")
    attrs.update(info.strategy.field_attrs(obj))
    return attrs


def field_index(info: ResourceInfo, fs: selectors.FieldSelector) -> Index | None:
    """The cache index for a field selector: one exact-match requirement (metadata.name first, as the most
    selective), as upstream's pods-by-spec.nodeName trigger and indexer, for any field. A watch is woken
    and a list reads keys through it; both still filter with the whole selector."""
    exact = [(field, value) for field, op, value in fs if op == "="]
    if not exact or info.extra.get("crd"):
        # a custom resource's selectable fields may change with its definition: no index outlives that
        return None
    field, value = min(exact, key=lambda fv: fv[0] != "metadata.name")
    name = f"{info.group}/{info.version}/{info.plural}:{field}"
    if field == "metadata.name":
        return Index(name, value, _object_name)

    def attr(obj: Obj) -> str:
        return field_attrs(info, obj).get(field, "")

    return Index(name, value, attr)


def _object_name(obj: Obj) -> str:
    name = (obj.get("metadata") or {}).get("name", "")
    return name if isinstance(name, str) else ""


def check_field_selector(info: ResourceInfo, fs: selectors.FieldSelector) -> None:
    if not fs:
        return
    sample: Obj = {"metadata": {}, "spec": {}, "status": {}}
    known = set(field_attrs(info, sample))
    try:
        selectors.check_fields(fs, known.__contains__)
    except selectors.SelectorError as e:
        raise errors.bad_request(str(e)) from None


class Store:
    def __init__(self, info: ResourceInfo, backend: Backend, *, validator: Validator | None = None,
                 cache: WatchCache | None = None) -> None:
        self.info = info
        self.backend = backend
        self.cache = cache  # lists and gets that accept a recent state are served from it
        self.validator = validator
        # custom resources served in several versions are stored once: reading rewrites apiVersion
        # (conversion strategy None)
        self.rewrite_version = bool(info.extra.get("crd"))

    def _decode(self, kv: KeyValue) -> Obj:
        obj = decode_kv(kv)
        if self.rewrite_version and obj.get("apiVersion") != self.info.api_version:
            if self.info.extra.get("conversion") == "Webhook":
                raise errors.internal(f"conversion webhook for {self.info.api_version}, Kind={self.info.kind} "
                                      "failed: webhook conversion is not supported by kplane yet")
            obj["apiVersion"] = self.info.api_version
        return obj

    # --- helpers -------------------------------------------------------------------------------

    def _gr(self) -> tuple[str, str]:
        return self.info.group, self.info.plural

    def not_found(self, name: str) -> errors.StatusError:
        return errors.not_found(self.info.group, self.info.plural, name)

    def _validate(self, obj: Obj, old: Obj | None, strategy: Strategy) -> None:
        errs = strategy.validate(obj) if old is None else strategy.validate_update(obj, old)
        if self.validator is not None and strategy.kind_rules:
            errs = self.validator(self.info, obj, old) + errs
        if errs:
            raise errors.invalid_object(self.info.group, self.info.kind, obj["metadata"].get("name", ""), errs)

    # --- read ------------------------------------------------------------------------------------

    async def get(self, namespace: str, name: str, resource_version: str = "") -> Obj:
        """Unset resourceVersion: the latest object (a backend read). "0": any recent state (the watch
        cache). "N": a state not older than N (the cache, once it has caught up to N)."""
        key = self.info.key(namespace, name)
        if resource_version and self.cache is not None:
            await self._cache_not_older_than(resource_version)
            obj = self.cache.get(key)
            if obj is None:
                raise self.not_found(name)
            return self._from_cache(obj)
        kv = await self.backend.get(key)
        if kv is None:
            raise self.not_found(name)
        return self._decode(kv)

    async def _cache_not_older_than(self, resource_version: str) -> None:
        """Wait (up to CACHE_WAIT seconds) for the cache to reach ``resource_version`` ("0": any)."""
        assert self.cache is not None
        rv = parse_rv(resource_version)
        if rv and not await self.cache.wait_for_revision(rv, CACHE_WAIT):
            raise too_large_resource_version(rv, self.cache.revision)

    def _from_cache(self, obj: Obj) -> Obj:
        if self.rewrite_version and obj.get("apiVersion") != self.info.api_version:
            if self.info.extra.get("conversion") == "Webhook":
                raise errors.internal(f"conversion webhook for {self.info.api_version}, Kind={self.info.kind} "
                                      "failed: webhook conversion is not supported by kplane yet")
            return {**obj, "apiVersion": self.info.api_version}
        return obj

    async def _serve_from_cache(self, opts: ListOptions) -> bool:
        """Upstream's choice (cacher.shouldDelegateList with ConsistentListFromCache): Exact, legacy
        exact (an RV with a limit and no match) and continuations go to storage; "0" and NotOlderThan
        are served from the cache once it is fresh enough; a consistent read (no RV) waits for the cache
        to reach storage's current revision and falls back to storage when it does not in time."""
        if self.cache is None or opts.continue_token:
            return False
        rv, match = opts.resource_version, opts.resource_version_match
        if match == "Exact":
            return False
        if rv == "":
            current = await self.backend.current_revision()
            return await self.cache.wait_for_revision(current, CACHE_WAIT)
        if rv != "0" and match == "" and opts.limit > 0:
            return False
        await self._cache_not_older_than(rv)
        return True

    def _list_cached(self, prefix: str, opts: ListOptions) -> tuple[list[Obj], Obj]:
        """One page from the cache's state; no await here, so the page is the state at one revision."""
        assert self.cache is not None
        cache = self.cache
        revision = cache.revision
        index = field_index(self.info, opts.field_selector)
        keys = cache.keys(prefix, index, self.info.prefix()) if index is not None else cache.keys(prefix)
        limit = opts.limit if opts.limit > 0 else 0
        filtered = bool(opts.label_selector or opts.field_selector)
        info = self.info
        items: list[Obj] = []
        last = -1
        for i, key in enumerate(keys):
            obj = cache.get(key)
            if obj is None or (filtered and not matches(info, obj, opts)):
                continue
            items.append(self._from_cache(obj))
            if limit and len(items) == limit:
                last = i
                break
        list_meta: Obj = {"resourceVersion": str(revision)}
        if last != -1 and last < len(keys) - 1:
            list_meta["continue"] = encode_continue(revision, keys[last][len(prefix):] + "\x00")
            if not filtered:
                list_meta["remainingItemCount"] = len(keys) - 1 - last
        return items, list_meta

    async def list(self, namespace: str, opts: ListOptions) -> tuple[list[Obj], Obj]:
        """Items and ListMeta. A list with limit returns a consistent snapshot across pages."""
        prefix = self.info.prefix(namespace)
        if opts.continue_token and opts.resource_version not in ("", "0"):
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        if await self._serve_from_cache(opts):
            return self._list_cached(prefix, opts)
        revision = 0
        start_key = ""
        if opts.continue_token:
            revision, start = decode_continue(opts.continue_token)
            start_key = prefix + start
            if revision == -1:
                revision = 0
        elif opts.resource_version not in ("", "0"):
            rv = parse_rv(opts.resource_version)
            if opts.resource_version_match == "Exact" or (opts.resource_version_match == "" and opts.limit > 0):
                revision = rv  # an RV with a limit and no match is the legacy exact read
            else:
                # NotOlderThan (or legacy semantic for an RV without a match): the current state is not older
                current = await self.backend.current_revision()
                if rv > current:
                    raise too_large_resource_version(rv, current)
        items: list[Obj] = []
        more = False
        limit = opts.limit if opts.limit > 0 else 0
        filtered = bool(opts.label_selector or opts.field_selector)
        read_rev = revision
        try:
            while True:
                res = await self.backend.list(prefix, start_key=start_key, limit=limit, revision=read_rev)
                read_rev = res.revision
                for kv in res.items:
                    obj = self._decode(kv)
                    if not filtered or matches(self.info, obj, opts):
                        items.append(obj)
                        if limit and len(items) == limit:
                            more = res.more or kv is not res.items[-1]
                            start_key = kv.key + "\x00"
                            break
                else:
                    if res.more and limit:
                        start_key = res.items[-1].key + "\x00"
                        continue
                    more = False
                break
        except Compacted:
            if opts.continue_token:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter, or use the continue token in "
                    "this response to retrieve the remainder of the results. Continuing with the provided token "
                    "results in an inconsistent list - objects that were created, modified, or deleted between "
                    "the time the first chunk was returned and now may show up in the list.",
                    continue_token=encode_continue(-1, start_key[len(prefix):]),
                ) from None
            raise errors.expired("The resourceVersion for the provided list is too old.") from None
        except FutureRevision as e:
            raise too_large_resource_version(e.requested, e.current) from None
        list_meta: Obj = {"resourceVersion": str(read_rev)}
        if more:
            list_meta["continue"] = encode_continue(read_rev, start_key[len(prefix):])
            if not filtered:
                remaining = await self.backend.count(prefix) - len(items)
                if opts.continue_token:
                    remaining = -1
                if remaining > 0:
                    list_meta["remainingItemCount"] = remaining
        return items, list_meta

    # --- create ------------------------------------------------------------------------------------

    async def create(self, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        self._fill_identity(obj, namespace)
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = meta["generateName"] + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
        strategy = self.info.strategy
        meta.pop("resourceVersion", None)
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta.pop("generation", None)
        strategy.prepare_for_create(obj)
        self._validate_meta(obj)
        self._validate(obj, None, strategy)
        strategy.canonicalize(obj)
        key = self.info.key(namespace, meta["name"])
        if dry_run:
            # a dry run answers as the write would, including AlreadyExists
            if await self.backend.get(key) is not None:
                raise errors.already_exists(self.info.group, self.info.plural, meta["name"])
            return obj
        try:
            res = await self.backend.create(key, encode(obj))
        except StorageError as e:
            raise errors.internal(str(e)) from None
        if not res.ok:
            raise errors.already_exists(self.info.group, self.info.plural, meta["name"])
        meta["resourceVersion"] = str(res.revision)
        return obj

    def _fill_identity(self, obj: Obj, namespace: str) -> None:
        obj["apiVersion"] = self.info.api_version
        obj["kind"] = self.info.kind
        meta = obj["metadata"]
        if self.info.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)

    def _validate_meta(self, obj: Obj) -> None:
        meta = obj["metadata"]
        errs: list[FieldError] = []
        name = meta.get("name")
        if not name:
            errs.append(required("metadata.name", "name or generateName is required"))
        elif not isinstance(name, str):
            errs.append(invalid("metadata.name", name, "must be a string"))
        if errs:
            raise errors.invalid_object(self.info.group, self.info.kind, "", errs)

    # --- update ------------------------------------------------------------------------------------

    async def update(
        self,
        namespace: str,
        name: str,
        transform: Transform,
        *,
        strategy: Strategy | None = None,
        dry_run: bool = False,
        create_on_missing: bool = False,
    ) -> tuple[Obj, bool]:
        """Read, transform, compare-and-swap; on a lost race re-run ``transform`` on what won.

        ``transform`` gets a private copy of the current object and returns the desired object; a
        ``metadata.resourceVersion`` it leaves set is a precondition (409 Conflict when stale).
        Returns (object, created). A write that changes nothing is not written.
        """
        strategy = strategy or self.info.strategy
        key = self.info.key(namespace, name)
        kv = await self.backend.get(key)
        for _ in range(100):
            if kv is None:
                if not create_on_missing:
                    raise self.not_found(name)
                new = await transform({})
                new.setdefault("metadata", {})["name"] = name
                return await self.create(namespace, new, dry_run=dry_run), True
            current = self._decode(kv)
            new = await transform(orjson.loads(kv.value) | {"metadata": {**current["metadata"]}})
            meta = new.setdefault("metadata", {})
            if not isinstance(meta, dict):
                raise errors.bad_request("metadata must be an object")
            rv = meta.get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(self.info.group, self.info.plural, name)
            uid = meta.get("uid")
            if uid and uid != current["metadata"].get("uid"):
                # a uid in the new object is a precondition, as upstream's update and patch treat it
                raise errors.conflict(self.info.group, self.info.plural, name,
                                      f"Precondition failed: UID in precondition: {uid}, "
                                      f"UID in object meta: {current['metadata'].get('uid')}")
            self._fill_identity(new, namespace)
            if meta.get("name") != name:
                raise errors.bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
            old_meta = current["metadata"]
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "generation", "generateName"):
                if k in old_meta:
                    meta[k] = old_meta[k]
                else:
                    meta.pop(k, None)
            strategy.prepare_for_update(new, current)
            meta = new["metadata"]  # a hook may have replaced it
            self._validate(new, current, strategy)
            strategy.canonicalize(new)
            # a deleting object whose last finalizer is removed goes away now
            if meta.get("deletionTimestamp") and not self._pending(new) and not dry_run:
                if await self._delete_now(key, kv):
                    return new, False
                kv = await self.backend.get(key)
                continue
            data = encode(new)
            if data == kv.value:
                return current, False
            if dry_run:
                return new, False
            res = await self.backend.update(key, data, expected_revision=kv.mod_revision)
            if res.ok:
                meta["resourceVersion"] = str(res.revision)
                return new, False
            if rv:
                raise errors.conflict(self.info.group, self.info.plural, name)
            kv = res.current
        raise errors.conflict(self.info.group, self.info.plural, name, "too many concurrent writes")

    async def _delete_now(self, key: str, kv: KeyValue) -> bool:
        res = await self.backend.delete(key, expected_revision=kv.mod_revision)
        return res.ok

    # --- delete ------------------------------------------------------------------------------------

    async def delete(self, namespace: str, name: str, opts: DeleteOptions) -> tuple[Obj, bool]:
        """Returns (object, deleted_now). With finalizers or a grace period left, the object gets a
        deletionTimestamp and stays (deleted_now False)."""
        key = self.info.key(namespace, name)
        for _ in range(100):
            kv = await self.backend.get(key)
            if kv is None:
                raise self.not_found(name)
            obj = self._decode(kv)
            meta = obj["metadata"]
            if opts.precondition_uid is not None and opts.precondition_uid != meta.get("uid"):
                raise errors.conflict(
                    self.info.group, self.info.plural, name,
                    f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                    f"UID in object meta: {meta.get('uid')}")
            if opts.precondition_rv is not None and opts.precondition_rv != meta["resourceVersion"]:
                raise errors.conflict(
                    self.info.group, self.info.plural, name,
                    f"Precondition failed: ResourceVersion in precondition: {opts.precondition_rv}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}")
            changed = self._begin_graceful(obj, opts)
            if meta.get("deletionTimestamp") and self._pending(obj):
                if not changed or opts.dry_run:
                    return obj, False
                res = await self.backend.update(key, encode(obj), expected_revision=kv.mod_revision)
                if not res.ok:
                    continue
                meta["resourceVersion"] = str(res.revision)
                return obj, False
            if opts.dry_run:
                return obj, True
            res = await self.backend.delete(key, expected_revision=kv.mod_revision)
            if res.ok:
                return obj, True
        raise errors.conflict(self.info.group, self.info.plural, name, "too many concurrent writes")

    def _pending(self, obj: Obj) -> bool:
        """Something still holds the object: finalizers, a grace period, or the strategy (namespaces)."""
        meta = obj["metadata"]
        return bool(meta.get("finalizers") or meta.get("deletionGracePeriodSeconds")
                    or self.info.strategy.deletion_pending(obj))

    def _begin_graceful(self, obj: Obj, opts: DeleteOptions) -> bool:
        """Set deletionTimestamp, grace period and orphan/foreground finalizers; True if anything changed."""
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        before = (meta.get("deletionTimestamp"), meta.get("deletionGracePeriodSeconds"), tuple(finalizers))
        policy = opts.propagation_policy
        if policy is None and opts.orphan_dependents is not None:
            policy = "Orphan" if opts.orphan_dependents else "Background"
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
            if "foregroundDeletion" in finalizers:
                finalizers.remove("foregroundDeletion")
        elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
            if "orphan" in finalizers:
                finalizers.remove("orphan")
        elif policy == "Background":
            finalizers = [f for f in finalizers if f not in ("orphan", "foregroundDeletion")]
        grace = self.info.strategy.grace_period(obj, opts.grace_period_seconds)
        if finalizers:
            meta["finalizers"] = finalizers
        else:
            meta.pop("finalizers", None)
        if grace or finalizers or self.info.strategy.deletion_pending(obj):
            if meta.get("deletionTimestamp") is None:
                stamp = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=grace or 0)
                meta["deletionTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
                meta["deletionGracePeriodSeconds"] = grace or 0
            elif grace is not None and grace < (meta.get("deletionGracePeriodSeconds") or 0):
                # a shorter grace period than the pending one takes over (as upstream)
                stamp = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=grace)
                meta["deletionTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
                meta["deletionGracePeriodSeconds"] = grace
        if not grace and meta.get("deletionGracePeriodSeconds") and not finalizers:
            meta["deletionGracePeriodSeconds"] = 0
        changed = self.info.strategy.prepare_for_delete(obj)
        after = (meta.get("deletionTimestamp"), meta.get("deletionGracePeriodSeconds"), tuple(finalizers))
        return before != after or changed
