"""Admission: what happens to a request's object between decoding and the Store.

decode:   schema validation of the body (fieldValidation Strict|Warn|Ignore) and defaulting
create:   NamespaceLifecycle (the namespace must exist and not be terminating)
delete:   NamespaceLifecycle (system namespaces cannot be deleted)
validate: the Store's validator: object metadata and per-kind rules from schemas/
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request

from schemas import crd as crdschema
from schemas import defaults, loader, rules, validation
from schemas.fielderrors import FieldError

from . import errors
from .allocators import ServiceAllocator
from .crd import CustomResourceStrategy
from .kinds import ResourceInfo

if TYPE_CHECKING:
    from .app import APIServer

Obj = dict[str, Any]

IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


def _is_service(info: ResourceInfo) -> bool:
    return info.group == "" and info.plural == "services"


class Admission:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.services = ServiceAllocator(server, server.config.service_cluster_ip_range)
        self.schemas = loader.load(server.config.emulated_version)

    def decode(self, request: Request, info: ResourceInfo, obj: Obj, raw: bytes, *,
               creating: bool = False, stored: Obj | None = None) -> list[str]:
        """Schema-check ``obj`` as decoded from ``raw`` (unknown fields dropped unless Strict refuses them),
        then default it. Returns the warnings for the response's Warning headers. ``stored``: the stored
        object ``obj`` was patched from; what the patch left alone is not checked again."""
        mode = request.query_params.get("fieldValidation", "Warn")
        if mode not in FIELD_VALIDATION:
            raise errors.bad_request(f'fieldValidation: Unsupported value: "{mode}": supported values: '
                                     '"Ignore", "Strict", "Warn"')
        kind = obj.get("kind") or info.kind
        version = info.version
        if isinstance(info.strategy, CustomResourceStrategy) and kind == info.kind:
            return self._decode_custom(info.strategy.schema, obj, raw, mode)
        if self.schemas.for_kind(info.group, version, kind) is None:
            return []  # no built-in schema (e.g. a Scale of a custom resource)
        result = validation.validate(self.schemas, info.group, version, kind, obj, field_validation=mode,
                                     raw=raw if raw.lstrip()[:1] == b"{" else None,
                                     stored=stored if kind == info.kind else None)
        message = result.bad_request_message(kind, version, info.kind if kind == info.kind else kind)
        if message is not None and (result.errors or mode == "Strict"):
            raise errors.bad_request(message)
        defaults.apply_defaults(info.group, version, kind, obj, admission=creating)
        return result.warnings if mode == "Warn" else []

    def _decode_custom(self, schema: crdschema.CustomResourceSchema, obj: Obj, raw: bytes, mode: str) -> list[str]:
        """Prune unknown fields (refused when Strict) and apply the schema's defaults."""
        unknown = schema.prune(obj)
        if unknown and mode == "Strict":
            raise errors.bad_request(f'{obj.get("kind")} in version "{obj.get("apiVersion", "").rpartition("/")[2]}" '
                                     f'cannot be handled as a {obj.get("kind")}: strict decoding error: '
                                     + ", ".join(unknown))
        schema.apply_defaults(obj)
        return unknown if mode == "Warn" else []

    async def create(self, info: ResourceInfo, namespace: str, obj: Obj, *, dry_run: bool = False) -> None:
        if not info.namespaced or not namespace:
            return
        await self._namespace_lifecycle(info, namespace, obj)
        if _is_service(info) and not dry_run:
            obj["metadata"]["namespace"] = namespace
            await self.services.allocate(obj)

    async def abort_create(self, info: ResourceInfo, obj: Obj) -> None:
        """The Store refused an object that create() admitted: give back what was allocated."""
        if _is_service(info):
            await self.services.release(obj)

    async def deleted(self, info: ResourceInfo, obj: Obj) -> None:
        if _is_service(info):
            await self.services.release(obj)

    async def _namespace_lifecycle(self, info: ResourceInfo, namespace: str, obj: Obj) -> None:
        ns_info = self.server.registry.get("", "v1", "namespaces")
        kv = await self.server.backend.get(ns_info.key("", namespace)) if ns_info else None
        if kv is None:
            raise errors.not_found("", "namespaces", namespace)
        ns = orjson.loads(kv.value)
        if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            err = errors.forbidden_error(
                info.group, info.plural, obj.get("metadata", {}).get("name", ""),
                f"unable to create new content in namespace {namespace} because it is being terminated")
            assert err.details is not None
            err.details["causes"] = [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                      "message": f"namespace {namespace} is being terminated"}]
            raise err

    async def delete(self, info: ResourceInfo, namespace: str, name: str) -> None:
        if info.group == "" and info.plural == "namespaces" and name in IMMORTAL_NAMESPACES:
            raise errors.forbidden_error("", "namespaces", name, "this namespace may not be deleted")

    def validate(self, info: ResourceInfo, obj: Obj, old: Obj | None) -> list[FieldError]:
        if isinstance(info.strategy, CustomResourceStrategy):
            result = info.strategy.schema.validate(obj, field_validation="Ignore", old=old)
            decode = [e for e in result.errors if isinstance(e, validation.DecodeError)]
            if decode:
                raise errors.bad_request(decode[0].message or decode[0].error())
            return list(result.errors)
        if old is None:
            return rules.validate(info.group, info.kind, obj)
        return rules.validate_update(info.group, info.kind, obj, old)
