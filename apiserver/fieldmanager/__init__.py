"""Field management and server-side apply, as Kubernetes 1.37 does them (pure functions, no I/O).

Behaviour follows sigs.k8s.io/structured-merge-diff (``fieldpath``, ``typed``, ``merge``) and
k8s.io/apimachinery ``pkg/util/managedfields``; see each module for the part it mirrors.

Entry points:

* ``Schema.for_kind(group, version, kind)`` / ``Schema.from_openapi(crd_schema)`` / ``Schema.deduced()``
* ``fieldset_of(obj, schema)``, ``to_fields_v1(fieldset)``, ``from_fields_v1(fields)``
* ``update_managed_fields(live, new, manager=..., api_version=..., time=..., schema=...)`` on every
  create/update/non-apply patch
* ``apply(live, applied, manager=..., force=..., api_version=..., time=..., schema=...)`` for
  ``application/apply-patch+yaml``; raises ``ApplyConflict`` (409)
* ``manager_from_user_agent(field_manager, user_agent)`` for requests without ``fieldManager``
"""

from __future__ import annotations

from apiserver.fieldmanager.fieldpath import FieldSet, from_fields_v1, path_string, to_fields_v1
from apiserver.fieldmanager.managed import ApplyConflict, Conflict, manager_from_user_agent
from apiserver.fieldmanager.operations import (
    LAST_APPLIED,
    FieldManagerError,
    apply,
    default_reset_fields,
    fieldset_of,
    update_managed_fields,
)
from apiserver.fieldmanager.schema import Schema

__all__ = ["FieldSet", "Schema", "ApplyConflict", "Conflict", "FieldManagerError", "LAST_APPLIED",
           "fieldset_of", "to_fields_v1", "from_fields_v1", "path_string", "update_managed_fields", "apply",
           "manager_from_user_agent", "default_reset_fields"]
