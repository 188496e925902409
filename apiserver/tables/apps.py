"""Printers for workloads: apps, batch, autoscaling and policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiserver.tables._base import AGE, CONTAINERS, IMAGES, NAME, Column, col, doc, register, wide
from apiserver.tables._fmt import (
    NONE,
    UNKNOWN,
    UNSET,
    Obj,
    SelectorError,
    age,
    bool_text,
    condition_true,
    containers_cells,
    dicts,
    format_label_selector,
    format_labels,
    get,
    gint,
    glist,
    gstr,
    has,
    human_duration,
    int_or_string,
    name,
    parse_time,
    quantity,
    selector_string,
    since,
)

# --------------------------------------------------------------------------- apps


@register(
    "apps",
    "Deployment",
    [
        NAME,
        col("Ready", "Number of the pod with ready state"),
        col("Up-to-date", doc("extensionsv1beta1.DeploymentStatus.updatedReplicas")),
        col("Available", doc("extensionsv1beta1.DeploymentStatus.availableReplicas")),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", doc("extensionsv1beta1.DeploymentSpec.selector")),
    ],
)
def deployment_cells(obj: Obj, now: datetime) -> list[Any]:
    try:
        selector = selector_string(get(obj, "spec", "selector"))
    except SelectorError:
        selector = "<invalid>"
    names, images = containers_cells(get(obj, "spec", "template", "spec"))
    return [
        name(obj),
        f"{gint(obj, 'status', 'readyReplicas')}/{gint(obj, 'spec', 'replicas')}",
        gint(obj, "status", "updatedReplicas"),
        gint(obj, "status", "availableReplicas"),
        age(obj, now),
        names,
        images,
        selector,
    ]


@register(
    "apps",
    "ReplicaSet",
    [
        NAME,
        col("Desired", doc("extensionsv1beta1.ReplicaSetSpec.replicas"), "integer"),
        col("Current", doc("extensionsv1beta1.ReplicaSetStatus.replicas"), "integer"),
        col("Ready", doc("extensionsv1beta1.ReplicaSetStatus.readyReplicas"), "integer"),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", doc("extensionsv1beta1.ReplicaSetSpec.selector")),
    ],
)
def replica_set_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = containers_cells(get(obj, "spec", "template", "spec"))
    return [
        name(obj),
        gint(obj, "spec", "replicas"),
        gint(obj, "status", "replicas"),
        gint(obj, "status", "readyReplicas"),
        age(obj, now),
        names,
        images,
        format_label_selector(get(obj, "spec", "selector")),
    ]


@register(
    "apps", "StatefulSet", [NAME, col("Ready", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES]
)
def stateful_set_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = containers_cells(get(obj, "spec", "template", "spec"))
    return [
        name(obj),
        f"{gint(obj, 'status', 'readyReplicas')}/{gint(obj, 'spec', 'replicas')}",
        age(obj, now),
        names,
        images,
    ]


@register(
    "apps",
    "DaemonSet",
    [
        NAME,
        col("Desired", doc("extensionsv1beta1.DaemonSetStatus.desiredNumberScheduled"), "integer"),
        col("Current", doc("extensionsv1beta1.DaemonSetStatus.currentNumberScheduled"), "integer"),
        col("Ready", doc("extensionsv1beta1.DaemonSetStatus.numberReady"), "integer"),
        col("Up-to-date", doc("extensionsv1beta1.DaemonSetStatus.updatedNumberScheduled"), "integer"),
        col("Available", doc("extensionsv1beta1.DaemonSetStatus.numberAvailable"), "integer"),
        col("Node Selector", doc("corev1.PodSpec.nodeSelector")),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", doc("extensionsv1beta1.DaemonSetSpec.selector")),
    ],
)
def daemon_set_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = containers_cells(get(obj, "spec", "template", "spec"))
    return [
        name(obj),
        gint(obj, "status", "desiredNumberScheduled"),
        gint(obj, "status", "currentNumberScheduled"),
        gint(obj, "status", "numberReady"),
        gint(obj, "status", "updatedNumberScheduled"),
        gint(obj, "status", "numberAvailable"),
        format_labels(get(obj, "spec", "template", "spec", "nodeSelector")),
        age(obj, now),
        names,
        images,
        format_label_selector(get(obj, "spec", "selector")),
    ]


def _group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


@register(
    "apps",
    "ControllerRevision",
    [
        NAME,
        col("Controller", "Controller of the object"),
        col("Revision", doc("appsv1beta1.ControllerRevision.revision")),
        AGE,
    ],
)
def controller_revision_cells(obj: Obj, now: datetime) -> list[Any]:
    controller = NONE
    for ref in dicts(obj, "metadata", "ownerReferences"):
        if ref.get("controller") is True:
            kind, group = gstr(ref, "kind"), _group_of(gstr(ref, "apiVersion"))
            if not kind and not group:
                controller = gstr(ref, "name")
            else:
                group_kind = f"{kind}.{group}" if group else kind
                controller = f"{group_kind.lower()}/{gstr(ref, 'name')}"
            break
    return [name(obj), controller, gint(obj, "revision"), age(obj, now)]


# --------------------------------------------------------------------------- batch


def job_status(obj: Obj) -> str:
    if condition_true(obj, "Complete"):
        return "Complete"
    if condition_true(obj, "Failed"):
        return "Failed"
    if has(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    if condition_true(obj, "Suspended"):
        return "Suspended"
    if condition_true(obj, "FailureTarget"):
        return "FailureTarget"
    if condition_true(obj, "SuccessCriteriaMet"):
        return "SuccessCriteriaMet"
    return "Running"


@register(
    "batch",
    "Job",
    [
        NAME,
        col("Status", "Status of the job."),
        col("Completions", doc("batchv1.JobStatus.succeeded")),
        col("Duration", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", doc("batchv1.JobSpec.selector")),
    ],
)
def job_cells(obj: Obj, now: datetime) -> list[Any]:
    succeeded = gint(obj, "status", "succeeded")
    if has(obj, "spec", "completions"):
        completions = f"{succeeded}/{gint(obj, 'spec', 'completions')}"
    else:
        parallelism = gint(obj, "spec", "parallelism")
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start = parse_time(get(obj, "status", "startTime"))
    end = parse_time(get(obj, "status", "completionTime"))
    duration = ""
    if start is not None:
        duration = since(get(obj, "status", "startTime"), now) if end is None else human_duration(end - start)
    names, images = containers_cells(get(obj, "spec", "template", "spec"))
    return [
        name(obj),
        job_status(obj),
        completions,
        duration,
        age(obj, now),
        names,
        images,
        format_label_selector(get(obj, "spec", "selector")),
    ]


@register(
    "batch",
    "CronJob",
    [
        NAME,
        col("Schedule", doc("batchv1beta1.CronJobSpec.schedule")),
        col("Timezone", doc("batchv1beta1.CronJobSpec.timeZone")),
        col("Suspend", doc("batchv1beta1.CronJobSpec.suspend"), "boolean"),
        col("Active", doc("batchv1beta1.CronJobStatus.active"), "integer"),
        col("Last Schedule", doc("batchv1beta1.CronJobStatus.lastScheduleTime")),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", doc("batchv1.JobSpec.selector")),
    ],
)
def cron_job_cells(obj: Obj, now: datetime) -> list[Any]:
    suspend = get(obj, "spec", "suspend")
    last = (
        since(get(obj, "status", "lastScheduleTime"), now) if has(obj, "status", "lastScheduleTime") else NONE
    )
    job_spec = get(obj, "spec", "jobTemplate", "spec")
    names, images = containers_cells(get(job_spec, "template", "spec"))
    return [
        name(obj),
        gstr(obj, "spec", "schedule"),
        gstr(obj, "spec", "timeZone") if has(obj, "spec", "timeZone") else NONE,
        bool_text(suspend) if isinstance(suspend, bool) else UNSET,
        len(glist(obj, "status", "active")),
        last,
        age(obj, now),
        names,
        images,
        format_label_selector(get(job_spec, "selector")),
    ]


# --------------------------------------------------------------------------- autoscaling


def _v1_metrics(obj: Obj) -> tuple[list[Obj], list[Obj]]:
    """An autoscaling/v1 HorizontalPodAutoscaler's CPU target in the v2 form the printer reads."""
    specs: list[Obj] = []
    statuses: list[Obj] = []
    if has(obj, "spec", "targetCPUUtilizationPercentage"):
        target = {
            "type": "Utilization",
            "averageUtilization": gint(obj, "spec", "targetCPUUtilizationPercentage"),
        }
        specs.append({"type": "Resource", "resource": {"name": "cpu", "target": target}})
    if has(obj, "status", "currentCPUUtilizationPercentage"):
        current = {"averageUtilization": gint(obj, "status", "currentCPUUtilizationPercentage")}
        statuses.append({"type": "Resource", "resource": {"name": "cpu", "current": current}})
    return specs, statuses


def _qty_or_nil(value: Any) -> str:
    """A *resource.Quantity's String(): "<nil>" when it is not set."""
    return "<nil>" if value is None else quantity(value)


def format_hpa_metrics(specs: list[Obj], statuses: list[Obj]) -> str:
    if not specs:
        return NONE
    out: list[str] = []
    for i, spec in enumerate(specs):
        status: Obj = statuses[i] if i < len(statuses) else {}
        mtype = gstr(spec, "type")
        if mtype in ("External", "Object"):
            src = "external" if mtype == "External" else "object"
            cur = get(status, src)
            if has(spec, src, "target", "averageValue"):
                current = UNKNOWN
                if isinstance(cur, dict) and has(cur, "current", "averageValue"):
                    current = quantity(get(cur, "current", "averageValue"))
                out.append(f"{current}/{quantity(get(spec, src, 'target', 'averageValue'))} (avg)")
            else:
                current = UNKNOWN
                if isinstance(cur, dict):
                    current = _qty_or_nil(get(cur, "current", "value"))
                out.append(f"{current}/{_qty_or_nil(get(spec, src, 'target', 'value'))}")
        elif mtype == "Pods":
            cur = get(status, "pods")
            current = _qty_or_nil(get(cur, "current", "averageValue")) if isinstance(cur, dict) else UNKNOWN
            out.append(f"{current}/{_qty_or_nil(get(spec, 'pods', 'target', 'averageValue'))}")
        elif mtype in ("Resource", "ContainerResource"):
            src = "resource" if mtype == "Resource" else "containerResource"
            res_name = gstr(spec, src, "name")
            cur = get(status, src)
            if has(spec, src, "target", "averageValue"):
                current = (
                    _qty_or_nil(get(cur, "current", "averageValue")) if isinstance(cur, dict) else UNKNOWN
                )
                out.append(f"{res_name}: {current}/{quantity(get(spec, src, 'target', 'averageValue'))}")
            else:
                current = UNKNOWN
                if isinstance(cur, dict) and has(cur, "current", "averageUtilization"):
                    current = f"{gint(cur, 'current', 'averageUtilization')}%"
                target = "<auto>"
                if has(spec, src, "target", "averageUtilization"):
                    target = f"{gint(spec, src, 'target', 'averageUtilization')}%"
                out.append(f"{res_name}: {current}/{target}")
        else:
            out.append("<unknown type>")
    if len(out) > 2:
        return f"{', '.join(out[:2])} + {len(out) - 2} more..."
    return ", ".join(out)


@register(
    "autoscaling",
    "HorizontalPodAutoscaler",
    [
        NAME,
        col("Reference", doc("autoscalingv2.HorizontalPodAutoscalerSpec.scaleTargetRef")),
        col("Targets", doc("autoscalingv2.HorizontalPodAutoscalerSpec.metrics")),
        col("MinPods", doc("autoscalingv2.HorizontalPodAutoscalerSpec.minReplicas")),
        col("MaxPods", doc("autoscalingv2.HorizontalPodAutoscalerSpec.maxReplicas")),
        col("Replicas", doc("autoscalingv2.HorizontalPodAutoscalerStatus.currentReplicas")),
        AGE,
    ],
)
def hpa_cells(obj: Obj, now: datetime) -> list[Any]:
    specs, statuses = dicts(obj, "spec", "metrics"), dicts(obj, "status", "currentMetrics")
    if (
        not specs
        and not statuses
        and (
            has(obj, "spec", "targetCPUUtilizationPercentage")
            or has(obj, "status", "currentCPUUtilizationPercentage")
        )
    ):
        specs, statuses = _v1_metrics(obj)
    if not specs:
        # what storage holds was defaulted to 80% average CPU utilization
        specs = [{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 80}}}]
    ref = f"{gstr(obj, 'spec', 'scaleTargetRef', 'kind')}/{gstr(obj, 'spec', 'scaleTargetRef', 'name')}"
    min_pods = str(gint(obj, "spec", "minReplicas")) if has(obj, "spec", "minReplicas") else UNSET
    return [
        name(obj),
        ref,
        format_hpa_metrics(specs, statuses),
        min_pods,
        gint(obj, "spec", "maxReplicas"),
        gint(obj, "status", "currentReplicas"),
        age(obj, now),
    ]


@register(
    "autoscaling",
    "Scale",
    [
        Column("Name", "string", doc("metav1.ObjectMeta.name")),
        col("Desired", doc("autoscalingv1.ScaleSpec.replicas"), "integer"),
        col("Available", doc("autoscalingv1.ScaleStatus.replicas"), "integer"),
        AGE,
    ],
)
def scale_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), gint(obj, "spec", "replicas"), gint(obj, "status", "replicas"), age(obj, now)]


# --------------------------------------------------------------------------- policy


@register(
    "policy",
    "PodDisruptionBudget",
    [
        NAME,
        col("Min Available", "The minimum number of pods that must be available."),
        col("Max Unavailable", "The maximum number of pods that may be unavailable."),
        col(
            "Allowed Disruptions", "Calculated number of pods that may be disrupted at this time.", "integer"
        ),
        AGE,
    ],
)
def pdb_cells(obj: Obj, now: datetime) -> list[Any]:
    min_available = (
        int_or_string(get(obj, "spec", "minAvailable")) if has(obj, "spec", "minAvailable") else "N/A"
    )
    max_unavailable = (
        int_or_string(get(obj, "spec", "maxUnavailable")) if has(obj, "spec", "maxUnavailable") else "N/A"
    )
    return [
        name(obj),
        min_available,
        max_unavailable,
        gint(obj, "status", "disruptionsAllowed"),
        age(obj, now),
    ]
