"""CustomResourceDefinitions and custom resources, as apiextensions-apiserver handles them, as pure
functions on plain dicts (no ``apiserver`` import).

* :func:`validate_crd` / :func:`validate_crd_update` - CRD validation (``field.ErrorList`` texts);
  :func:`default_crd`, :func:`prepare_crd_for_create`, :func:`prepare_crd_for_update` - v1 defaulting
  and the strategy's preparation, to run before validating.
* :class:`CustomResourceSchema` - one version's schema: ``prune``, ``apply_defaults``, ``validate``
  (OpenAPI schema, embedded resources, list types, scale paths, CEL rules), ``prepare_for_create/update``.
* :func:`printer_columns`, :func:`row_cells`, :class:`TableConvertor` - server-side table columns/cells.
* :func:`field_value` - a selectable field's value; :func:`nested_field` - scale paths.
* ``CEL_SUPPORTED`` - whether ``x-kubernetes-validations`` rules can be evaluated here.
"""

from __future__ import annotations

from schemas.crd.cel import CEL_SUPPORTED
from schemas.crd.columns import (
    TableConvertor,
    column_definitions,
    field_value,
    human_duration,
    nested_field,
    printer_columns,
    row_cells,
)
from schemas.crd.definition import (
    MAX_SELECTABLE_FIELDS,
    default_crd,
    prepare_crd_for_create,
    prepare_crd_for_update,
    validate_crd,
    validate_crd_update,
)
from schemas.crd.openapi import validate_value
from schemas.crd.resource import CRResult, CustomResourceSchema

__all__ = ["validate_crd", "validate_crd_update", "default_crd", "prepare_crd_for_create", "prepare_crd_for_update",
           "CustomResourceSchema", "CRResult", "printer_columns", "column_definitions", "row_cells",
           "TableConvertor", "field_value", "nested_field", "human_duration", "validate_value", "CEL_SUPPORTED",
           "MAX_SELECTABLE_FIELDS"]
