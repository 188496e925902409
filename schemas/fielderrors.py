"""Field errors (k8s.io/apimachinery/pkg/util/validation/field): the causes of an Invalid Status.

Shared by schema validation (schemas/) and per-resource strategies (apiserver/).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _dc_field
from typing import Any

import orjson

_TYPES = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTypeInvalid": "Invalid value",
    "InternalError": "Internal error",
}

_OMIT = object()


def format_value(value: Any) -> str:
    """Go's %#v-ish rendering used by field.Error for the common value types."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return orjson.dumps(value).decode()


@dataclass
class FieldError:
    type: str  # a cause reason, e.g. "FieldValueInvalid"
    field: str
    value: Any = _OMIT
    detail: str = ""
    valid_values: list[str] = _dc_field(default_factory=list)

    def body(self) -> str:
        s = _TYPES.get(self.type, self.type)
        if self.type in ("FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong",
                         "InternalError") or self.value is _OMIT:
            return f"{s}: {self.detail}" if self.detail else s
        s += f": {format_value(self.value)}"
        if self.type == "FieldValueNotSupported" and self.valid_values:
            s += ": supported values: " + ", ".join(f'"{v}"' for v in self.valid_values)
        elif self.detail:
            s += f": {self.detail}"
        return s

    def error(self) -> str:
        return f"{self.field}: {self.body()}"


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", path, detail=detail)


def invalid(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("FieldValueInvalid", path, value, detail)


def not_supported(path: str, value: Any, valid: list[str]) -> FieldError:
    return FieldError("FieldValueNotSupported", path, value, valid_values=valid)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", path, detail=detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", path, value)


def too_long(path: str, value: Any, limit: int) -> FieldError:
    """field.TooLong: upstream omits the value and says ``may not be more than N bytes``."""
    detail = f"may not be more than {limit} {'byte' if limit == 1 else 'bytes'}" if limit >= 0 else "value is too long"
    return FieldError("FieldValueTooLong", path, "<value omitted>", detail)


def too_many(path: str, actual: int, limit: int) -> FieldError:
    detail = f"must have at most {limit} {'item' if limit == 1 else 'items'}" if limit >= 0 else "has too many items"
    return FieldError("FieldValueTooMany", path, actual if actual >= 0 else _OMIT, detail)


def internal_error(path: str, err: str) -> FieldError:
    return FieldError("InternalError", path, err, err)


