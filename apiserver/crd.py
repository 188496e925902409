"""CustomResourceDefinitions -> ResourceInfo at run time.

Every API server follows the CRDs in its watch cache (so replicas sharing one store agree): a CRD that
exists is served, one that is deleted stops being served once its custom resources are gone. The
server that sees a CRD without conditions sets NamesAccepted and Established (a race between replicas
ends in a harmless conflict). Deleting a CRD: the `customresourcecleanup.apiextensions.k8s.io`
finalizer holds it while every custom resource is deleted, as upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from schemas import crd as crdschema
from schemas.fielderrors import FieldError

from . import errors
from .kinds import ALL_VERBS, ResourceInfo, Subresource
from .registry import DeleteOptions, ListOptions, decode, now_rfc3339
from .storage.cache import TooOld
from .strategy import Strategy

if TYPE_CHECKING:
    from .app import APIServer

log = logging.getLogger("kplane.crd")

Obj = dict[str, Any]
GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CustomResourceStrategy(Strategy):
    """Validation comes from the version's schema, through the Store's validator (admission.validate)."""

    tracks_generation = True

    def __init__(self, crd: Obj, version: Obj) -> None:
        self.crd = crd
        self.version = version
        self.schema = crdschema.CustomResourceSchema.for_version(crd, version["name"])
        self.table = crdschema.TableConvertor(version)
        subresources = version.get("subresources") or crd["spec"].get("subresources") or {}
        self.has_status = "status" in subresources
        self.scale = subresources.get("scale")
        self.selectable = [f["jsonPath"] for f in version.get("selectableFields") or []]

    def prepare_for_create(self, obj: Obj) -> None:
        if self.has_status:
            obj.pop("status", None)
        obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        gen = old["metadata"].get("generation", 1)
        keys = (set(new) | set(old)) - {"metadata", "kind", "apiVersion"} - ({"status"} if self.has_status else set())
        if any(new.get(k) != old.get(k) for k in keys):
            gen += 1
        new["metadata"]["generation"] = gen

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        out = {}
        for path in self.selectable:
            try:
                value = crdschema.field_value(obj, path)
            except ValueError:
                value = None
            out[path.lstrip(".")] = value or ""
        return out


class CRDStrategy(Strategy):
    has_status = True
    tracks_generation = True
    kind_rules = False  # CRDs have their own rules (schemas.crd), not core's ObjectMeta ones

    def prepare_for_create(self, obj: Obj) -> None:
        crdschema.default_crd(obj)
        crdschema.prepare_crd_for_create(obj)
        status = obj.setdefault("status", {})
        status.setdefault("conditions", [])
        status.setdefault("acceptedNames", {"plural": "", "kind": ""})
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        crdschema.default_crd(new)
        crdschema.prepare_crd_for_update(new, old)

    def validate(self, obj: Obj) -> list[FieldError]:
        return list(crdschema.validate_crd(obj))

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return list(crdschema.validate_crd_update(new, old))


def resource_infos(crd: Obj) -> list[ResourceInfo]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    infos = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        strategy = CustomResourceStrategy(crd, version)
        subs: list[Subresource] = []
        if strategy.has_status:
            subs.append(Subresource("status", "", ("get", "patch", "update")))
        if strategy.scale is not None:
            subs.append(Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        extra = {"crd": crd["metadata"]["name"],
                 "conversion": (spec.get("conversion") or {}).get("strategy", "None")}
        if version.get("deprecated"):
            storage = next((v for v in spec["versions"] if v.get("storage")), version)
            extra["deprecationWarning"] = version.get("deprecationWarning") or (
                f"{group}/{version['name']} {names.get('kind', '')} is deprecated; use "
                f"{group}/{storage['name']} {names.get('kind', '')}")
        if schema is not None:
            extra["openAPIV3Schema"] = orjson.dumps(schema).decode()
        infos.append(ResourceInfo(
            group, version["name"], plural, names.get("kind", ""), spec.get("scope") == "Namespaced",
            verbs=ALL_VERBS, short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()), singular=names.get("singular", ""),
            subresources=tuple(subs), strategy=strategy, storage_name=f"{group}/{plural}",
            storage_version=next((v["name"] for v in spec["versions"] if v.get("storage")), version["name"]),
            extra=extra))
    return infos


def is_established(crd: Obj) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


class CRDManager:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.served: dict[str, list[tuple[str, str, str]]] = {}  # CRD name -> registry keys
        self._task: asyncio.Task[None] | None = None
        info = server.registry.get(GROUP, "v1", "customresourcedefinitions")
        assert info is not None
        self.info = replace(info, strategy=CRDStrategy())
        server.registry.add(self.info)

    async def start(self) -> None:
        store = self.server.store(self.info)
        items, meta = await store.list("", ListOptions())
        for crd in items:
            await self._observe(crd)
        self._task = asyncio.create_task(self._follow(int(meta["resourceVersion"])), name="crd-manager")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _follow(self, revision: int) -> None:
        prefix = self.info.prefix()
        while True:
            try:
                async for ev in self.server.cache.events(after=revision, prefix=prefix):
                    revision = ev.revision
                    if ev.type == "delete":
                        self._unserve(ev.obj["metadata"]["name"])
                    else:
                        await self._observe(ev.obj)
                return
            except TooOld:
                revision = self.server.cache.revision
                items, _ = await self.server.store(self.info).list("", ListOptions())
                for crd in items:
                    await self._observe(crd)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following CRDs failed; retrying")
                await asyncio.sleep(0.5)

    async def _observe(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        if crd["metadata"].get("deletionTimestamp"):
            asyncio.create_task(self._cleanup(crd))
            return
        self._serve(crd)
        if not is_established(crd):
            await self._establish(name)

    def _serve(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        new = resource_infos(crd)
        keys = [(i.group, i.version, i.plural) for i in new]
        for key in self.served.get(name, []):
            if key not in keys:
                self.server.registry.remove(*key)
        for info in new:
            current = self.server.registry.get(info.group, info.version, info.plural)
            if current is not None and current.extra.get("crd") is None:
                log.warning("CRD %s would shadow a built-in resource; not served", name)
                continue
            self.server.registry.add(info)
        self.served[name] = keys

    def _unserve(self, name: str) -> None:
        for key in self.served.pop(name, []):
            self.server.registry.remove(*key)

    async def _establish(self, name: str) -> None:
        store = self.server.store(self.info)
        strategy = self.server.status_strategy(self.info)

        async def set_conditions(current: Obj) -> Obj:
            now = now_rfc3339()
            names = dict((current.get("spec") or {}).get("names") or {})
            names.setdefault("singular", names.get("kind", "").lower())
            names.setdefault("listKind", names.get("kind", "") + "List")
            status = current.setdefault("status", {})
            status["acceptedNames"] = names
            status["conditions"] = [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts",
                 "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted"},
            ]
            current["metadata"].pop("resourceVersion", None)
            return current

        try:
            await store.update("", name, set_conditions, strategy=strategy)
        except errors.StatusError as e:
            if e.code not in (404, 409):
                log.warning("could not establish CRD %s: %s", name, e.message)

    async def _cleanup(self, crd: Obj) -> None:
        """Delete every custom resource of the CRD, then release its finalizer."""
        name = crd["metadata"]["name"]
        if CLEANUP_FINALIZER not in (crd["metadata"].get("finalizers") or []):
            return
        spec = crd.get("spec") or {}
        root = f"/registry/{spec.get('group')}/{(spec.get('names') or {}).get('plural')}/"
        backend = self.server.backend
        for _ in range(100):
            res = await backend.list(root, limit=500)
            if not res.items:
                break
            for kv in res.items:
                obj = decode(kv.value, kv.mod_revision)
                if obj["metadata"].get("finalizers"):
                    # custom resources with finalizers are deleted gracefully; their owners finish them
                    info = self._info_for(name)
                    if info is not None:
                        with contextlib.suppress(errors.StatusError):
                            await self.server.store(info).delete(obj["metadata"].get("namespace", ""),
                                                                 obj["metadata"]["name"], DeleteOptions())
                    continue
                await backend.delete(kv.key, expected_revision=0)
            if any(decode(kv.value, kv.mod_revision)["metadata"].get("finalizers") for kv in res.items):
                await asyncio.sleep(0.5)
        self._unserve(name)
        store = self.server.store(self.info)

        async def release(current: Obj) -> Obj:
            current["metadata"]["finalizers"] = [f for f in current["metadata"].get("finalizers") or []
                                                 if f != CLEANUP_FINALIZER]
            current["metadata"].pop("resourceVersion", None)
            return current

        with contextlib.suppress(errors.StatusError):
            await store.update("", name, release)

    def _info_for(self, name: str) -> ResourceInfo | None:
        for key in self.served.get(name, []):
            info = self.server.registry.get(*key)
            if info is not None:
                return info
        return None

    def table(self, info: ResourceInfo, objs: list[Obj], *, now: Any, include_object: str, list_meta: Obj,
              columns: bool, single: bool) -> Obj:
        """Table output from additionalPrinterColumns (Name + Age when there are none)."""
        assert isinstance(info.strategy, CustomResourceStrategy)
        convertor = info.strategy.table
        rows = []
        for obj in objs:
            row: Obj = {"cells": convertor.row(obj, now)}
            if include_object == "Object":
                row["object"] = obj
            elif include_object in ("Metadata", ""):
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": obj["metadata"]}
            else:
                row["object"] = None
            rows.append(row)
        meta = dict(list_meta)
        if single and objs:
            meta = {"resourceVersion": objs[0]["metadata"].get("resourceVersion", "")}
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                "columnDefinitions": convertor.columns if columns else None, "rows": rows}
