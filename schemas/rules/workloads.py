"""Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job and CronJob validation
(k8s.io/kubernetes/pkg/apis/apps/validation, pkg/apis/batch/validation and the apps/v1 strategies,
which make ``spec.selector`` immutable)."""

from __future__ import annotations

import re
from typing import Any

from schemas import cron
from schemas.fielderrors import FieldError, forbidden, invalid, not_supported, required
from schemas.rules import meta as m
from schemas.rules import names
from schemas.rules.pods import validate_pod_template_spec

__all__ = ["validate_deployment", "validate_deployment_update", "validate_replica_set",
           "validate_replica_set_update", "validate_stateful_set", "validate_stateful_set_update",
           "validate_daemon_set", "validate_daemon_set_update", "validate_job", "validate_job_update",
           "validate_cron_job", "validate_cron_job_update", "validate_replication_controller"]

Obj = dict[str, Any]
SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def _selector_value(sel: Any) -> Any:
    if not isinstance(sel, dict):
        return sel
    out: Obj = {}
    if sel.get("matchLabels"):
        out["matchLabels"] = m.sorted_map(sel["matchLabels"])
    if sel.get("matchExpressions"):
        out["matchExpressions"] = sel["matchExpressions"]
    return out


def _selector(spec: Obj, kind_word: str) -> list[FieldError]:
    sel = spec.get("selector")
    if sel is None:
        return [required("spec.selector")]
    errs = m.validate_label_selector(sel, "spec.selector")
    if m.selector_empty(sel):
        errs.append(invalid("spec.selector", _selector_value(sel), f"empty selector is invalid for {kind_word}"))
    return errs


def _template_matches(spec: Obj, path: str = "spec.template", *, invalid_msg: str = "invalid label selector"
                      ) -> list[FieldError]:
    sel = spec.get("selector")
    if not m.selector_valid(sel):
        return [invalid("spec.selector", _selector_value(sel), invalid_msg)]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    # a nil selector selects nothing (so never matches); an empty one is not checked
    if sel is None or (not m.selector_empty(sel) and not m.selector_matches(sel, labels)):
        return [invalid(f"{path}.metadata.labels", m.sorted_map(labels), SELECTOR_MISMATCH)]
    return []


def _always_restart(spec: Obj, kind: str, path: str = "spec.template.spec") -> list[FieldError]:
    tspec = (spec.get("template") or {}).get("spec") or {}
    errs: list[FieldError] = []
    if tspec.get("restartPolicy") != "Always":
        errs.append(not_supported(f"{path}.restartPolicy", tspec.get("restartPolicy") or "", ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden(f"{path}.activeDeadlineSeconds", f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


def _int_or_percent(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str):
        return [invalid(path, value, msg) for msg in names.percent(value)]
    return m.nonnegative(value, path)


def _iop_value(value: Any) -> int:
    if isinstance(value, str):
        return int(value[:-1]) if not names.percent(value) else 0
    return value if isinstance(value, int) else 0


def _over_100(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str) and not names.percent(value) and int(value[:-1]) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


def _meta(obj: Obj, name_rule: m.NameRule = "subdomain") -> list[FieldError]:
    return m.validate_object_meta(obj.get("metadata"), namespaced=True, name_rule=name_rule)


def _replicated(spec: Obj, kind: str, kind_word: str, *, min_ready_first: bool) -> list[FieldError]:
    errs = m.nonnegative(spec.get("replicas"), "spec.replicas")
    if min_ready_first:
        errs += m.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += _selector(spec, kind_word)
    errs += _template_matches(spec)
    errs += validate_pod_template_spec(spec.get("template"), "spec.template")
    errs += _always_restart(spec, kind)
    return errs


def _deployment_spec(spec: Obj) -> list[FieldError]:
    errs = _replicated(spec, "ReplicaSet", "deployment", min_ready_first=False)
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type") or ""
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            errs.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            errs.append(required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil"))
        else:
            p = "spec.strategy.rollingUpdate"
            mu, ms = ru.get("maxUnavailable", 0), ru.get("maxSurge", 0)
            errs += _int_or_percent(mu, f"{p}.maxUnavailable") + _int_or_percent(ms, f"{p}.maxSurge")
            if _iop_value(mu) == 0 and _iop_value(ms) == 0:
                errs.append(invalid(f"{p}.maxUnavailable", mu, "may not be 0 when `maxSurge` is 0"))
            errs += _over_100(mu, f"{p}.maxUnavailable")
    else:
        errs.append(not_supported("spec.strategy", strategy, ["Recreate", "RollingUpdate"]))
    errs += m.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    errs += m.nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    pds = spec.get("progressDeadlineSeconds")
    if pds is not None:
        errs += m.nonnegative(pds, "spec.progressDeadlineSeconds")
        if pds <= (spec.get("minReadySeconds") or 0):
            errs.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return errs


def validate_deployment(obj: Obj) -> list[FieldError]:
    return _meta(obj) + _deployment_spec(obj.get("spec") or {})


def _selector_immutable(new: Obj, old: Obj) -> list[FieldError]:
    ns, os_ = (new.get("spec") or {}).get("selector"), (old.get("spec") or {}).get("selector")
    return [] if m.semantic_equal(ns, os_) else [invalid("spec.selector", _selector_value(ns), m.FIELD_IMMUTABLE)]


def _meta_update(new: Obj, old: Obj) -> list[FieldError]:
    return m.validate_object_meta_update(new.get("metadata"), old.get("metadata"))


def validate_deployment_update(new: Obj, old: Obj) -> list[FieldError]:
    return _meta_update(new, old) + _deployment_spec(new.get("spec") or {}) + _selector_immutable(new, old)


def validate_replica_set(obj: Obj) -> list[FieldError]:
    # upstream's ReplicaSet message really says "deployment"
    return _meta(obj) + _replicated(obj.get("spec") or {}, "ReplicaSet", "deployment", min_ready_first=True)


def validate_replica_set_update(new: Obj, old: Obj) -> list[FieldError]:
    spec_errs = _replicated(new.get("spec") or {}, "ReplicaSet", "deployment", min_ready_first=True)
    return _meta_update(new, old) + spec_errs + _selector_immutable(new, old)


def validate_replication_controller(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs = _meta(obj) + m.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    sel = spec.get("selector") or {}
    if not sel:
        errs.append(required("spec.selector"))
    errs += m.nonnegative(spec.get("replicas"), "spec.replicas")
    template = spec.get("template")
    if sel and isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in sel.items()):
            errs.append(invalid("spec.template.metadata.labels", m.sorted_map(labels), SELECTOR_MISMATCH))
    errs += validate_pod_template_spec(template, "spec.template")
    if isinstance(template, dict):
        errs += _always_restart(spec, "ReplicationController")
    return errs


def _stateful_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    pmp = spec.get("podManagementPolicy") or ""
    if not pmp:
        errs.append(required("spec.podManagementPolicy"))
    elif pmp not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type") or ""
    if not stype:
        errs.append(required("spec.updateStrategy"))
    elif stype == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.append(invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                            "only allowed for updateStrategy 'RollingUpdate'"))
    elif stype == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        errs += m.nonnegative(strategy["rollingUpdate"].get("partition"), "spec.updateStrategy.rollingUpdate.partition")
    elif stype not in ("OnDelete", "RollingUpdate"):
        errs.append(invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    for key in ("whenDeleted", "whenScaled"):
        if key in policy and policy[key] not in ("Retain", "Delete"):
            errs.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", policy[key],
                                      ["Retain", "Delete"]))
    errs += m.nonnegative(spec.get("replicas"), "spec.replicas")
    errs += m.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    sel = spec.get("selector")
    if sel is None:
        errs.append(required("spec.selector"))
    else:
        errs += m.validate_label_selector(sel, "spec.selector")
        if m.selector_empty(sel):
            errs.append(invalid("spec.selector", _selector_value(sel), "empty selector is invalid for statefulset"))
    errs += _template_matches(spec, invalid_msg="")
    template = spec.get("template") or {}
    tmeta = template.get("metadata") or {}
    errs += m.validate_labels(tmeta.get("labels"), "spec.template.labels")
    errs += m.validate_annotations(tmeta.get("annotations"), "spec.template.annotations")
    errs += _always_restart(spec, "StatefulSet")
    return errs


def validate_stateful_set(obj: Obj) -> list[FieldError]:
    return _meta(obj, "label") + _stateful_spec(obj.get("spec") or {})


def validate_stateful_set_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = _meta_update(new, old) + _stateful_spec(new.get("spec") or {})
    mutable = ("replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
               "persistentVolumeClaimRetentionPolicy")
    ns = {k: v for k, v in (new.get("spec") or {}).items() if k not in mutable}
    os_ = {k: v for k, v in (old.get("spec") or {}).items() if k not in mutable}
    if not m.semantic_equal(ns, os_):
        errs.append(forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                              "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                              "'minReadySeconds' are forbidden"))
    return errs


def _daemon_spec(spec: Obj) -> list[FieldError]:
    errs = m.validate_label_selector(spec.get("selector"), "spec.selector")
    errs += _template_matches(spec)
    sel = spec.get("selector")
    if sel is not None and m.selector_empty(sel):
        errs.append(invalid("spec.selector", _selector_value(sel), "empty selector is invalid for daemonset"))
    errs += validate_pod_template_spec(spec.get("template"), "spec.template")
    errs += _always_restart(spec, "DaemonSet")
    errs += m.nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type") or ""
    if stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            errs.append(required("spec.updateStrategy.rollingUpdate"))
        else:
            p = "spec.updateStrategy.rollingUpdate"
            mu, ms = ru.get("maxUnavailable", 0), ru.get("maxSurge", 0)
            errs += _int_or_percent(mu, f"{p}.maxUnavailable") + _int_or_percent(ms, f"{p}.maxSurge")
            errs += _over_100(mu, f"{p}.maxUnavailable") + _over_100(ms, f"{p}.maxSurge")
            if _iop_value(mu) and _iop_value(ms):
                errs.append(invalid(f"{p}.maxSurge", ms, "may not be set when maxUnavailable is non-zero"))
            elif not _iop_value(mu) and not _iop_value(ms):
                errs.append(required(f"{p}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    elif stype != "OnDelete":
        errs.append(not_supported("spec.updateStrategy", strategy, ["RollingUpdate", "OnDelete"]))
    errs += m.nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
    return errs


def validate_daemon_set(obj: Obj) -> list[FieldError]:
    return _meta(obj) + _daemon_spec(obj.get("spec") or {})


def validate_daemon_set_update(new: Obj, old: Obj) -> list[FieldError]:
    return _meta_update(new, old) + _daemon_spec(new.get("spec") or {}) + _selector_immutable(new, old)


def _job_template(spec: Obj, path: str) -> list[FieldError]:
    errs = validate_pod_template_spec(spec.get("template"), f"{path}.template")
    rp = (((spec.get("template") or {}).get("spec")) or {}).get("restartPolicy") or ""
    if rp not in ("OnFailure", "Never"):
        errs.append(not_supported(f"{path}.template.spec.restartPolicy", rp, ["OnFailure", "Never"]))
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        errs += m.nonnegative(spec.get(key), f"{path}.{key}")
    return errs


def _job_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    sel = spec.get("selector")
    if sel is not None:
        errs += m.validate_label_selector(sel, "spec.selector")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not m.selector_empty(sel) and not m.selector_matches(sel, labels):
            errs.append(invalid("spec.template.metadata.labels", m.sorted_map(labels), SELECTOR_MISMATCH))
    return errs + _job_template(spec, "spec")


def validate_job(obj: Obj) -> list[FieldError]:
    return _meta(obj) + _job_spec(obj.get("spec") or {})


def validate_job_update(new: Obj, old: Obj) -> list[FieldError]:
    errs = _meta_update(new, old) + _job_spec(new.get("spec") or {})
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    for key in ("selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
        errs += m.immutable(ns.get(key), os_.get(key), f"spec.{key}")
    if not (ns.get("completionMode") == "Indexed" and ns.get("completions") == ns.get("parallelism")):
        errs += m.immutable(ns.get("completions"), os_.get("completions"), "spec.completions")
    if not (os_.get("suspend") and not (old.get("status") or {}).get("startTime")):
        errs += m.immutable(ns.get("template"), os_.get("template"), "spec.template")
    return errs


def _time_zone(tz: Any) -> list[FieldError]:
    """validateTimeZone: nil or an IANA zone name (not "Local")."""
    if tz is None:
        return []
    if not isinstance(tz, str) or not tz:
        return [invalid("spec.timeZone", tz, "timeZone must be nil or non-empty string")]
    if any(part in (".", "..") or part.startswith("-") or not re.fullmatch(r"[A-Za-z.\-_0-9+]{1,14}", part)
           for part in tz.split("/")):
        return [invalid("spec.timeZone", tz, f"unknown time zone {tz}")]
    if tz.lower() == "local":
        return [invalid("spec.timeZone", tz,
                        "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")]
    try:
        cron.load_location(tz)
    except cron.CronError as e:
        return [invalid("spec.timeZone", tz, str(e))]
    return []


def _cron_spec(spec: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    schedule = spec.get("schedule") or ""
    if not schedule:
        errs.append(required("spec.schedule"))
    elif re.search(r"(?:^|\s)(?:CRON_)?TZ=", schedule):
        errs.append(invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    elif (problem := cron.validate(schedule)) is not None:  # robfig/cron ParseStandard's message
        errs.append(invalid("spec.schedule", schedule, problem))
    errs += _time_zone(spec.get("timeZone"))
    policy = spec.get("concurrencyPolicy") or ""
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += m.nonnegative(spec.get(key), f"spec.{key}")
    job_template = spec.get("jobTemplate") or {}
    jmeta = job_template.get("metadata") or {}
    errs += m.validate_labels(jmeta.get("labels"), "spec.jobTemplate.metadata.labels")
    errs += m.validate_annotations(jmeta.get("annotations"), "spec.jobTemplate.metadata.annotations")
    return errs + _job_template(job_template.get("spec") or {}, "spec.jobTemplate.spec")


def validate_cron_job(obj: Obj) -> list[FieldError]:
    name = (obj.get("metadata") or {}).get("name") or ""
    errs = _meta(obj)
    if len(name) > 52:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return errs + _cron_spec(obj.get("spec") or {})


def validate_cron_job_update(new: Obj, old: Obj) -> list[FieldError]:
    return _meta_update(new, old) + _cron_spec(new.get("spec") or {})
