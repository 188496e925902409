"""The rest of CRD validation - conversion webhooks, stored versions, the API-approval annotation - and v1
defaulting plus the strategy's create/update preparation (apiextensions-apiserver pkg/apis/apiextensions/
{validation,v1} and pkg/registry/customresourcedefinition)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from schemas.crd._go import deepcopy, index, key
from schemas.fielderrors import FieldError, forbidden, invalid, not_supported, required
from schemas.rules import names

__all__ = ["validate_conversion", "validate_stored_versions", "validate_approval", "default_crd",
           "prepare_crd_for_create", "prepare_crd_for_update"]

Obj = dict[str, Any]
_APPROVAL = "api-approved.kubernetes.io"


def validate_conversion(conv: Any, require_recognized: bool) -> list[FieldError]:
    if not isinstance(conv, dict):
        return []
    p = "spec.conversion"
    errs: list[FieldError] = []
    strategy = conv.get("strategy") or ""
    webhook = conv.get("webhook") if isinstance(conv.get("webhook"), dict) else None
    client = (webhook or {}).get("clientConfig")
    reviews = (webhook or {}).get("conversionReviewVersions")
    if not strategy:
        errs.append(required(f"{p}.strategy"))
    elif strategy not in ("None", "Webhook"):
        errs.append(not_supported(f"{p}.strategy", strategy, ["None", "Webhook"]))
    if strategy == "Webhook":
        cp = f"{p}.webhookClientConfig"
        if not isinstance(client, dict):
            errs.append(required(cp, "required when strategy is set to Webhook"))
        elif (client.get("url") is None) == (client.get("service") is None):
            errs.append(required(cp, "exactly one of url or service is required"))
        elif client.get("url") is not None:
            errs += _webhook_url(str(client["url"]), f"{cp}.url")
        else:
            errs += _webhook_service(client["service"] or {}, f"{cp}.service")
        errs += _review_versions(reviews, require_recognized, f"{p}.conversionReviewVersions")
    else:
        if client is not None:
            errs.append(forbidden(f"{p}.webhookClientConfig", "should not be set when strategy is not set to Webhook"))
        if reviews:
            errs.append(forbidden(f"{p}.conversionReviewVersions", "should not be set when strategy is not set to Webhook"))
    return errs


def _review_versions(versions: Any, require_recognized: bool, p: str) -> list[FieldError]:
    if not versions:
        return [required(p)]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, v in enumerate(versions):
        if v in seen:
            errs.append(invalid(index(p, i), v, "duplicate version"))
            continue
        seen.add(v)
        errs += [invalid(index(p, i), v, m) for m in names.dns1035_label(str(v))]
    if require_recognized and not seen & {"v1", "v1beta1"}:
        errs.append(invalid(p, versions, "must include at least one of v1, v1beta1"))
    return errs


def _webhook_url(url: str, p: str) -> list[FieldError]:
    form = "; desired format: https://host[/path]"
    try:
        u = urlsplit(url)
    except ValueError as e:
        return [required(p, f"url must be a valid URL: {e}{form}")]
    errs = []
    if u.scheme != "https":
        errs.append(invalid(p, u.scheme, "'https' is the only allowed URL scheme" + form))
    host = u.netloc.rsplit("@", 1)[-1]
    if not host:
        errs.append(invalid(p, host, "host must be specified" + form))
    if "@" in u.netloc:
        errs.append(invalid(p, u.netloc.rsplit("@", 1)[0], "user information is not permitted in the URL"))
    if u.fragment:
        errs.append(invalid(p, u.fragment, "fragments are not permitted in the URL"))
    if u.query:
        errs.append(invalid(p, u.query, "query parameters are not permitted in the URL"))
    return errs


def _webhook_service(svc: Obj, p: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not svc.get("name"):
        errs.append(required(f"{p}.name"))
    if not svc.get("namespace"):
        errs.append(required(f"{p}.namespace"))
    port = svc.get("port", 443)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        errs.append(invalid(f"{p}.port", port, "port is not valid: must be between 1 and 65535, inclusive"))
    path = svc.get("path")
    if not isinstance(path, str) or path in ("", "/"):
        return errs
    if path == "//":
        return errs + [invalid(f"{p}.path", path, "segment[0] may not be empty")]
    if not path.startswith("/"):
        errs.append(invalid(f"{p}.path", path, "must start with a '/'"))
    check = path[1:]
    check = check[:-1] if check.endswith("/") else check
    for i, step in enumerate(check.split("/")):
        if not step:
            errs.append(invalid(f"{p}.path", path, f"segment[{i}] may not be empty"))
            continue
        errs += [invalid(f"{p}.path", path, f"segment[{i}]: {m}") for m in names.dns1123_subdomain(step)]
    return errs


def validate_stored_versions(stored: Any, versions: list[Any]) -> list[FieldError]:
    p = "status.storedVersions"
    if not stored:
        return [invalid(p, stored or None, "must have at least one stored version")]
    errs: list[FieldError] = []
    remaining = {v: i for i, v in enumerate(stored)}
    for v in versions:
        if not isinstance(v, dict):
            continue
        if v.get("storage") is True and v.get("name") not in remaining:
            errs.append(invalid(p, stored, f"must have the storage version {v.get('name', '')}"))
        remaining.pop(v.get("name"), None)
    for v, i in remaining.items():
        errs.append(invalid(index(p, i), v, f"missing from spec.versions; {v} was previously a storage version, and "
                            f"must remain in spec.versions until a storage migration ensures no data remains "
                            f"persisted in {v} and removes {v} from status.storedVersions"))
    return errs


def _approval_state(annotations: Obj) -> tuple[str, str]:
    a = annotations.get(_APPROVAL) or ""
    if not a:
        return "missing", (f'protected groups must have approval annotation "{_APPROVAL}", see '
                           "https://github.com/kubernetes/enhancements/pull/1111")
    if a.startswith("unapproved"):
        return "bypassed", f'not approved: "{a}"'
    u = urlsplit(a) if a.startswith("/") or "://" in a else None
    if u is not None and u.scheme and u.netloc:
        return "approved", f"approved in {a}"
    return "invalid", (f'protected groups must have approval annotation "{_APPROVAL}" with either a URL or a reason '
                       'starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111')


def validate_approval(crd: Obj, old: Obj | None) -> list[FieldError]:
    group = (crd.get("spec") or {}).get("group") or ""
    if not (group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))):
        return []
    annotations = (crd.get("metadata") or {}).get("annotations") or {}
    state, reason = _approval_state(annotations)
    if old is not None and _approval_state((old.get("metadata") or {}).get("annotations") or {})[0] == state:
        return []
    p = key("metadata.annotations", _APPROVAL)
    if state == "missing":
        return [required(p, reason)]
    if state == "invalid":
        return [invalid(p, annotations.get(_APPROVAL, ""), reason)]
    return []


# -- defaulting and strategy ------------------------------------------------------------------------------

def default_crd(crd: Obj) -> None:
    """v1 defaults, in place: names.singular (lower-cased kind), names.listKind (kind+"List"),
    conversion.strategy None, webhook service port 443, status.storedVersions (the storage version)."""
    spec = crd.setdefault("spec", {})
    nm = spec.setdefault("names", {})
    kind = nm.get("kind") or ""
    if not nm.get("singular"):
        nm["singular"] = kind.lower()
    if not nm.get("listKind") and kind:
        nm["listKind"] = kind + "List"
    if spec.get("conversion") is None:
        spec["conversion"] = {"strategy": "None"}
    svc = (((spec.get("conversion") or {}).get("webhook") or {}).get("clientConfig") or {}).get("service")
    if isinstance(svc, dict) and svc.get("port") is None:
        svc["port"] = 443
    status = crd.get("status")
    if not (isinstance(status, dict) and status.get("storedVersions")):
        for v in spec.get("versions") or ():
            if isinstance(v, dict) and v.get("storage") is True:
                crd.setdefault("status", {})["storedVersions"] = [v.get("name", "")]
                break


def prepare_crd_for_create(crd: Obj) -> None:
    """The strategy's PrepareForCreate: status reset to the storage version, generation 1."""
    stored: list[Any] = []
    for v in (crd.get("spec") or {}).get("versions") or ():
        if isinstance(v, dict) and v.get("storage") is True:
            stored = [v.get("name", "")]
            break
    crd["status"] = {"conditions": [], "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": stored}
    crd.setdefault("metadata", {})["generation"] = 1


def prepare_crd_for_update(crd: Obj, old: Obj) -> None:
    """PrepareForUpdate: the old status is kept (plus a new storage version), generation bumps on spec changes."""
    crd["status"] = deepcopy(old.get("status") or {})
    meta = crd.setdefault("metadata", {})
    old_gen = (old.get("metadata") or {}).get("generation") or 0
    meta["generation"] = old_gen + 1 if crd.get("spec") != old.get("spec") else old_gen
    stored = crd["status"].setdefault("storedVersions", [])
    for v in (crd.get("spec") or {}).get("versions") or ():
        if isinstance(v, dict) and v.get("storage") is True:
            if v.get("name") not in stored:
                stored.append(v.get("name", ""))
            break
