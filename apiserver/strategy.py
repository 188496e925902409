"""Per-resource behaviour, sequenced by the generic Store (registry.py).

The Store calls, in this order and nowhere else:
  create: prepare_for_create -> validate -> canonicalize
  update: prepare_for_update -> validate_update -> canonicalize
Hooks mutate the object in place (prepare_*, canonicalize) or only read it (validate*). They never do I/O.
"""

from __future__ import annotations

from typing import Any

from schemas.fielderrors import FieldError

Obj = dict[str, Any]



class Strategy:
    #: the resource has a /status subresource: the main endpoint keeps the stored status, /status keeps spec
    has_status: bool = False
    #: metadata.generation starts at 1 and bumps when anything but metadata and status changes
    tracks_generation: bool = False
    #: DELETE answers with the deleted object instead of a Success Status (pods, namespaces, ...)
    return_deleted_object: bool = False
    #: the kind's validation rules (schemas/rules) apply to writes through this strategy
    kind_rules: bool = True

    def prepare_for_create(self, obj: Obj) -> None:
        if self.has_status and "status" in obj:
            obj["status"] = {} if isinstance(obj["status"], dict) else obj["status"]
        if self.tracks_generation:
            obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if self.tracks_generation:
            gen = old["metadata"].get("generation", 1)
            if _spec_changed(new, old):
                gen += 1
            new["metadata"]["generation"] = gen

    def validate(self, obj: Obj) -> list[FieldError]:
        return []

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return self.validate(new)

    def canonicalize(self, obj: Obj) -> None:
        pass

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        """Seconds a DELETE leaves the object in place (with a deletionTimestamp); None/0 = at once."""
        return None

    def prepare_for_delete(self, obj: Obj) -> bool:
        """Called when a DELETE marks the object; returns True if it changed ``obj``."""
        return False

    def deletion_pending(self, obj: Obj) -> bool:
        """Beyond metadata.finalizers and the grace period, something keeps a deleting object."""
        return False

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        """Extra fields a fieldSelector may use besides metadata.name and metadata.namespace."""
        return {}


def _spec_changed(new: Obj, old: Obj) -> bool:
    keys = (set(new) | set(old)) - {"metadata", "status", "kind", "apiVersion"}
    return any(new.get(k) != old.get(k) for k in keys)


#: metadata a status write cannot change (upstream's ResetObjectMetaForStatus)
STATUS_RESET_METADATA = ("labels", "annotations", "finalizers", "ownerReferences", "deletionTimestamp",
                         "generation", "selfLink")


class StatusStrategy(Strategy):
    """The /status subresource of a resource: only status (and metadata not in ``reset``) changes.

    ``reset`` is what the stored object keeps: upstream's generic ResetObjectMetaForStatus for most kinds;
    workload kinds (apps, batch) reset labels only, so their controllers can write annotations through
    /status (the deployment revision annotation)."""

    def __init__(self, parent: Strategy, reset: tuple[str, ...] = STATUS_RESET_METADATA) -> None:
        self.parent = parent
        self.reset = reset
        self.kind_rules = parent.kind_rules

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        status = new.get("status")
        meta = new["metadata"]
        rv = meta.get("resourceVersion")
        new.clear()
        new.update({k: v for k, v in old.items() if k not in ("status", "metadata")})
        for key in self.reset:
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
            else:
                meta.pop(key, None)
        if rv:
            meta["resourceVersion"] = rv
        else:
            meta.pop("resourceVersion", None)
        new["metadata"] = meta
        if status is not None:
            new["status"] = status

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return self.parent.validate_update(new, old)

    def canonicalize(self, obj: Obj) -> None:
        self.parent.canonicalize(obj)

    def field_attrs(self, obj: Obj) -> dict[str, str]:
        return self.parent.field_attrs(obj)


DEFAULT = Strategy()
