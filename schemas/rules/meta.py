"""ObjectMeta, labels, annotations, label selectors and immutability, with upstream's messages
(k8s.io/apimachinery/pkg/api/validation/objectmeta.go, pkg/apis/meta/v1/validation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from schemas.fielderrors import FieldError, forbidden, invalid, required, too_long
from schemas.rules import names

__all__ = ["validate_object_meta", "validate_object_meta_update", "validate_labels", "validate_annotations",
           "validate_label_selector", "selector_matches", "selector_valid", "immutable", "nonnegative",
           "semantic_equal", "sorted_map", "selector_empty", "kube_finalizer", "NameRule", "FIELD_IMMUTABLE", "TOTAL_ANNOTATION_SIZE_LIMIT"]

Obj = dict[str, Any]
NameRule = Literal["subdomain", "label", "path", "dns1035"]
FIELD_IMMUTABLE = "field is immutable"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
IS_NEGATIVE = "must be greater than or equal to 0"

_NAME_FNS: dict[str, Callable[[str, bool], list[str]]] = {
    "subdomain": names.name_is_dns_subdomain,
    "label": names.name_is_dns_label,
    "path": names.name_is_path_segment,
    "dns1035": names.name_is_dns1035_label,
}


def sorted_map(m: Any) -> Any:
    """A map rendered as Go's json.Marshal does in error values (keys sorted)."""
    return dict(sorted(m.items())) if isinstance(m, dict) else m


def _is_zero(v: Any) -> bool:
    return v is None or v is False or v == "" or v == [] or v == {} or (type(v) in (int, float) and v == 0)


def semantic_equal(a: Any, b: Any) -> bool:
    """apimachinery's Semantic.DeepEqual on decoded JSON: an absent field equals its zero value, and
    nil and empty lists/maps are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(semantic_equal(a.get(k), b.get(k)) for k in a.keys() | b.keys())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(semantic_equal(x, y) for x, y in zip(a, b, strict=True))
    if _is_zero(a) and _is_zero(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    """ValidateImmutableField: ``<path>: Invalid value: <new>: field is immutable``."""
    return [] if semantic_equal(new, old) else [invalid(path, new, FIELD_IMMUTABLE)]


def nonnegative(value: Any, path: str) -> list[FieldError]:
    """ValidateNonnegativeField: ``must be greater than or equal to 0``."""
    return [invalid(path, value, IS_NEGATIVE)] if isinstance(value, int) and value < 0 else []


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """ValidateLabels: every key a qualified name, every value a label value (errors at ``path``)."""
    errs: list[FieldError] = []
    for key, value in (labels or {}).items() if isinstance(labels, dict) else ():
        errs.extend(invalid(path, key, m) for m in names.qualified_name(key))
        if isinstance(value, str):
            errs.extend(invalid(path, value, m) for m in names.label_value(value))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """ValidateAnnotations: qualified-name keys (checked lower-cased) and 256 KiB in total."""
    if not isinstance(annotations, dict):
        return []
    errs = [invalid(path, k, m) for k in annotations for m in names.qualified_name(k.lower())]
    total = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _owner_references(refs: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    controller = ""
    for i, ref in enumerate(refs or ()):
        if not isinstance(ref, dict):
            continue
        p = f"{path}[{i}]"
        api_version = ref.get("apiVersion") or ""
        if not api_version:
            errs.append(required(f"{p}.apiVersion", "must not be empty"))
        elif api_version.count("/") > 1 or api_version.endswith("/") or api_version.startswith("/"):
            errs.append(invalid(f"{p}.apiVersion", api_version, "must be <group>/<version> or <version>"))
        for key in ("kind", "name", "uid"):
            if not ref.get(key):
                errs.append(required(f"{p}.{key}", "must not be empty"))
        if api_version == "v1" and ref.get("kind") == "Event":
            errs.append(invalid(p, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller"):
            name = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if controller:
                errs.append(invalid(path, refs, "Only one reference can have Controller set to true. "
                                    f'Found "true" in references for {controller} and {name}'))
            else:
                controller = name
    return errs


_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def kube_finalizer(name: str, path: str) -> list[FieldError]:
    """The core-API extra rule: a finalizer without a "/" must be a standard one."""
    if "/" not in name and name not in _STANDARD_FINALIZERS:
        return [invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")]
    return []


def _finalizers(finalizers: Any, path: str, core: bool = True) -> list[FieldError]:
    fins = [f for f in finalizers or () if isinstance(f, str)]
    errs = [invalid(path, f, m) for f in fins for m in names.qualified_name(f)]
    if "orphan" in fins and "foregroundDeletion" in fins:
        errs.append(invalid(path, fins, "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs + ([e for f in fins for e in kube_finalizer(f, path)] if core else [])


def _common(meta: Obj, path: str) -> list[FieldError]:
    errs = nonnegative(meta.get("generation"), f"{path}.generation")
    errs += validate_labels(meta.get("labels"), f"{path}.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    errs += _owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    return errs


def validate_object_meta(meta: Obj | None, *, namespaced: bool | None, name_rule: NameRule = "subdomain",
                         path: str = "metadata", core: bool = True) -> list[FieldError]:
    """ValidateObjectMeta for a create (``core``: plus core's rule that finalizers without a "/" are
    standard ones; apiextensions uses the generic rules only). A missing name is fine while ``generateName`` is set (the name is
    generated later); otherwise ``metadata.name: Required value: name or generateName is required``.
    ``name_rule`` picks the name format (DNS subdomain, DNS label, path segment, DNS-1035 label);
    ``namespaced`` None skips the namespace check."""
    meta = meta or {}
    name_fn = _NAME_FNS[name_rule]
    errs: list[FieldError] = []
    generate = meta.get("generateName") or ""
    if generate:
        errs += [invalid(f"{path}.generateName", generate, m) for m in name_fn(generate, True)]
    name = meta.get("name") or ""
    if not name:
        if not generate:
            errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs += [invalid(f"{path}.name", name, m) for m in name_fn(name, False)]
    namespace = meta.get("namespace") or ""
    if namespaced is None:  # scope unknown: not checked
        pass
    elif namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        else:
            errs += [invalid(f"{path}.namespace", namespace, m) for m in names.name_is_dns_label(namespace)]
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    errs += _common(meta, path)
    errs += _finalizers(meta.get("finalizers"), f"{path}.finalizers", core)
    return errs


def validate_object_meta_update(new: Obj | None, old: Obj | None, *, path: str = "metadata",
                                require_resource_version: bool = False, core: bool = True) -> list[FieldError]:
    """ValidateObjectMetaUpdate: name, namespace, uid, creationTimestamp, deletionTimestamp and
    deletionGracePeriodSeconds are immutable; generation may not decrease; no new finalizers while
    deleting. ``require_resource_version`` adds ``must be specified for an update``."""
    new, old = new or {}, old or {}
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        added = sorted(set(new.get("finalizers") or ()) - set(old.get("finalizers") or ()))
        if added:
            shown = ", ".join(f'"{f}"' for f in added)
            errs.append(forbidden(f"{path}.finalizers", "no new finalizers can be added if the object is "
                                  f"being deleted, found new finalizers []string{{{shown}}}"))
    if require_resource_version and not new.get("resourceVersion"):
        errs.append(invalid(f"{path}.resourceVersion", new.get("resourceVersion") or "",
                            "must be specified for an update"))
    errs += nonnegative(new.get("generation"), f"{path}.generation")
    if (new.get("generation") or 0) < (old.get("generation") or 0):
        errs.append(invalid(f"{path}.generation", new.get("generation") or 0, "must not be decremented"))
    for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                "deletionGracePeriodSeconds"):
        errs += immutable(new.get(key), old.get(key), f"{path}.{key}")
    errs += validate_labels(new.get("labels"), f"{path}.labels")
    errs += validate_annotations(new.get("annotations"), f"{path}.annotations")
    errs += _owner_references(new.get("ownerReferences"), f"{path}.ownerReferences")
    if not core:  # apimachinery's generic ObjectMeta rules (CRDs, custom resources): no core finalizer rule
        return errs
    return errs + [e for f in new.get("finalizers") or () if isinstance(f, str)
                   for e in kube_finalizer(f, f"{path}.finalizers")]


_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: str, *, allow_invalid_values: bool = False) -> list[FieldError]:
    """ValidateLabelSelector (metav1.LabelSelector with matchLabels / matchExpressions)."""
    if not isinstance(selector, dict):
        return []
    errs = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or ()):
        if not isinstance(expr, dict):
            continue
        p = f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(forbidden(f"{p}.values",
                                      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(f"{p}.operator", op, "not a valid selector operator"))
        errs += [invalid(f"{p}.key", expr.get("key", ""), m) for m in names.qualified_name(expr.get("key", ""))]
        if not allow_invalid_values:
            for j, value in enumerate(values):
                if isinstance(value, str):
                    errs += [invalid(f"{p}.values[{j}]", value, m) for m in names.label_value(value)]
    return errs


def selector_valid(selector: Any) -> bool:
    """Whether LabelSelectorAsSelector accepts the selector (nil is valid and selects nothing)."""
    if selector is None:
        return True
    if not isinstance(selector, dict):
        return False
    return not validate_label_selector(selector, "s")


def selector_matches(selector: Any, labels: Any) -> bool:
    """Whether a metav1.LabelSelector selects ``labels`` (an empty selector selects everything)."""
    labels = labels if isinstance(labels, dict) else {}
    sel = selector if isinstance(selector, dict) else {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in sel.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def selector_empty(selector: Any) -> bool:
    sel = selector if isinstance(selector, dict) else {}
    return not sel.get("matchLabels") and not sel.get("matchExpressions")
