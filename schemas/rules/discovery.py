"""discovery.k8s.io/v1 EndpointSlice rules (the ones clients run into)."""

from __future__ import annotations

from typing import Any

from schemas.fielderrors import FieldError, not_supported, required
from schemas.rules.meta import immutable, validate_object_meta, validate_object_meta_update

Obj = dict[str, Any]

ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"]


def validate_endpoint_slice(obj: Obj) -> list[FieldError]:
    errs = validate_object_meta(obj.get("metadata"), namespaced=True)
    address_type = obj.get("addressType")
    if not address_type:
        errs.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    return errs


def validate_endpoint_slice_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
    errs += [e for e in validate_endpoint_slice(new) if not e.field.startswith("metadata")]
    errs += immutable(new.get("addressType"), old.get("addressType"), "addressType")
    return errs
