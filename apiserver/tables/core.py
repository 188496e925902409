"""Printers for the core ("") group: pods, nodes, services, events and the rest of core/v1."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiserver.tables._base import AGE, CONTAINERS, IMAGES, NAME, Column, col, doc, register, wide
from apiserver.tables._fmt import (
    NONE,
    UNKNOWN,
    UNSET,
    Obj,
    age,
    ago,
    containers_cells,
    dicts,
    format_labels,
    gdict,
    get,
    gint,
    glist,
    gstr,
    has,
    name,
    or_none,
    parse_time,
    quantity,
    since,
    strings,
)

# --------------------------------------------------------------------------- Pod

POD_SUCCEEDED = {
    "type": "Completed",
    "status": "True",
    "reason": "Succeeded",
    "message": "The pod has completed successfully.",
}
POD_FAILED = {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}


def pod_row_conditions(pod: Obj) -> list[Obj]:
    """The row conditions printPod sets: a finished pod's row is marked Completed."""
    phase = gstr(pod, "status", "phase")
    if phase == "Succeeded":
        return [dict(POD_SUCCEEDED)]
    if phase == "Failed":
        return [dict(POD_FAILED)]
    return []


def _restartable(container: Obj | None) -> bool:
    """podutil.IsRestartableInitContainer: an init container with restartPolicy Always (a sidecar)."""
    return container is not None and container.get("restartPolicy") == "Always"


def _later(current: datetime | None, status: Obj) -> datetime | None:
    """The later of current and the container's last termination (lastState.terminated.finishedAt)."""
    if not has(status, "lastState", "terminated"):
        return current
    finished = parse_time(get(status, "lastState", "terminated", "finishedAt"))
    if finished is None:
        return current
    if current is None or current < finished:
        return finished
    return current


def _pod_initialized(pod: Obj) -> bool:
    for c in dicts(pod, "status", "conditions"):
        if c.get("type") == "Initialized":
            return c.get("status") == "True"
    return False


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in dicts(pod, "status", "conditions")
    )


@register(
    "",
    "Pod",
    [
        NAME,
        col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "The aggregate status of the containers in this pod."),
        col(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        wide("IP", doc("corev1.PodStatus.podIP")),
        wide("Node", doc("corev1.PodSpec.nodeName")),
        wide("Nominated Node", doc("corev1.PodStatus.nominatedNodeName")),
        wide("Readiness Gates", doc("corev1.PodSpec.readinessGates")),
    ],
)
def pod_cells(pod: Obj, now: datetime) -> list[Any]:
    restarts = 0
    sidecar_restarts = 0
    containers = dicts(pod, "spec", "containers")
    init_containers = dicts(pod, "spec", "initContainers")
    total = len(containers)
    ready = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = gstr(pod, "status", "phase")
    reason = gstr(pod, "status", "reason") or phase
    for c in dicts(pod, "status", "conditions"):
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    by_name: dict[str, Obj] = {}
    for c in init_containers:
        by_name[gstr(c, "name")] = c
        if _restartable(c):
            total += 1

    initializing = False
    init_statuses = dicts(pod, "status", "initContainerStatuses")
    for i, st in enumerate(init_statuses):
        restarts += gint(st, "restartCount")
        last_restart = _later(last_restart, st)
        sidecar = _restartable(by_name.get(gstr(st, "name")))
        if sidecar:
            sidecar_restarts += gint(st, "restartCount")
            last_sidecar_restart = _later(last_sidecar_restart, st)
        terminated = get(st, "state", "terminated")
        waiting = get(st, "state", "waiting")
        if isinstance(terminated, dict) and gint(terminated, "exitCode") == 0:
            continue
        if sidecar and get(st, "started") is True:
            if get(st, "ready") is True:
                ready += 1
            continue
        if isinstance(terminated, dict):
            if not gstr(terminated, "reason"):
                if gint(terminated, "signal") != 0:
                    reason = f"Init:Signal:{gint(terminated, 'signal')}"
                else:
                    reason = f"Init:ExitCode:{gint(terminated, 'exitCode')}"
            else:
                reason = "Init:" + gstr(terminated, "reason")
        elif (
            isinstance(waiting, dict)
            and gstr(waiting, "reason")
            and gstr(waiting, "reason") != "PodInitializing"
        ):
            reason = "Init:" + gstr(waiting, "reason")
        else:
            reason = f"Init:{i}/{len(init_containers)}"
        initializing = True
        break

    if not initializing or _pod_initialized(pod):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for st in reversed(dicts(pod, "status", "containerStatuses")):
            restarts += gint(st, "restartCount")
            last_restart = _later(last_restart, st)
            terminated = get(st, "state", "terminated")
            waiting = get(st, "state", "waiting")
            if isinstance(waiting, dict) and gstr(waiting, "reason"):
                reason = gstr(waiting, "reason")
            elif isinstance(terminated, dict) and gstr(terminated, "reason"):
                reason = gstr(terminated, "reason")
            elif isinstance(terminated, dict):
                if gint(terminated, "signal") != 0:
                    reason = f"Signal:{gint(terminated, 'signal')}"
                else:
                    reason = f"ExitCode:{gint(terminated, 'exitCode')}"
            elif get(st, "ready") is True and has(st, "state", "running"):
                has_running = True
                ready += 1
        # a pod whose containers report Completed while one still runs is Running (or NotReady)
        if reason == "Completed" and has_running:
            reason = "Running" if _pod_ready(pod) else "NotReady"

    if has(pod, "metadata", "deletionTimestamp"):
        if gstr(pod, "status", "reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Failed", "Succeeded"):
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_cell = f"{restarts} ({ago(last_restart, now)} ago)"

    pod_ip = (
        gstr(pod, "status", "podIPs", 0, "ip")
        if glist(pod, "status", "podIPs")
        else gstr(pod, "status", "podIP")
    )
    gates = dicts(pod, "spec", "readinessGates")
    readiness = NONE
    if gates:
        met = 0
        for gate in gates:
            for c in dicts(pod, "status", "conditions"):
                if c.get("type") == gate.get("conditionType"):
                    if c.get("status") == "True":
                        met += 1
                    break
        readiness = f"{met}/{len(gates)}"
    return [
        name(pod),
        f"{ready}/{total}",
        reason,
        restarts_cell,
        age(pod, now),
        or_none(pod_ip),
        or_none(gstr(pod, "spec", "nodeName")),
        or_none(gstr(pod, "status", "nominatedNodeName")),
        readiness,
    ]


# --------------------------------------------------------------------------- PodTemplate, ReplicationController


@register(
    "",
    "PodTemplate",
    [
        NAME,
        col("Containers", "Names of each container in the template."),
        col("Images", "Images referenced by each container in the template."),
        col("Pod Labels", "The labels for the pod template."),
    ],
)
def pod_template_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = containers_cells(get(obj, "template", "spec"))
    return [name(obj), names, images, format_labels(get(obj, "template", "metadata", "labels"))]


@register(
    "",
    "ReplicationController",
    [
        NAME,
        col("Desired", doc("corev1.ReplicationControllerSpec.replicas"), "integer"),
        col("Current", doc("corev1.ReplicationControllerStatus.replicas"), "integer"),
        col("Ready", doc("corev1.ReplicationControllerStatus.readyReplicas"), "integer"),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", doc("corev1.ReplicationControllerSpec.selector")),
    ],
)
def replication_controller_cells(obj: Obj, now: datetime) -> list[Any]:
    names, images = containers_cells(get(obj, "spec", "template", "spec"))
    return [
        name(obj),
        gint(obj, "spec", "replicas"),
        gint(obj, "status", "replicas"),
        gint(obj, "status", "readyReplicas"),
        age(obj, now),
        names,
        images,
        format_labels(get(obj, "spec", "selector")),
    ]


# --------------------------------------------------------------------------- Service, Endpoints


def _lb_ingress(status: Any) -> list[str]:
    """The load balancer's addresses (an IP, else a hostname), sorted and without repeats."""
    found: set[str] = set()
    for ing in dicts(status, "loadBalancer", "ingress"):
        if gstr(ing, "ip"):
            found.add(gstr(ing, "ip"))
        elif gstr(ing, "hostname"):
            found.add(gstr(ing, "hostname"))
    return sorted(found)


def _service_external_ip(svc: Obj) -> str:
    stype = gstr(svc, "spec", "type")
    external = strings(svc, "spec", "externalIPs")
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if stype == "LoadBalancer":
        lb = _lb_ingress(get(svc, "status"))
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if stype == "ExternalName":
        return gstr(svc, "spec", "externalName")
    return UNKNOWN


@register(
    "",
    "Service",
    [
        NAME,
        col("Type", doc("corev1.ServiceSpec.type")),
        col("Cluster-IP", doc("corev1.ServiceSpec.clusterIP")),
        col("External-IP", doc("corev1.ServiceSpec.externalIPs")),
        col("Port(s)", doc("corev1.ServiceSpec.ports")),
        AGE,
        wide("Selector", doc("corev1.ServiceSpec.selector")),
    ],
)
def service_cells(svc: Obj, now: datetime) -> list[Any]:
    cluster_ips = strings(svc, "spec", "clusterIPs")
    if not cluster_ips and gstr(svc, "spec", "clusterIP"):
        cluster_ips = [gstr(svc, "spec", "clusterIP")]
    ports = []
    for p in dicts(svc, "spec", "ports"):
        if gint(p, "nodePort") > 0:
            ports.append(f"{gint(p, 'port')}:{gint(p, 'nodePort')}/{gstr(p, 'protocol')}")
        else:
            ports.append(f"{gint(p, 'port')}/{gstr(p, 'protocol')}")
    return [
        name(svc),
        gstr(svc, "spec", "type"),
        cluster_ips[0] if cluster_ips else NONE,
        _service_external_ip(svc),
        ",".join(ports) or NONE,
        age(svc, now),
        format_labels(get(svc, "spec", "selector")),
    ]


def _join_host_port(host: str, port: int) -> str:
    """net.JoinHostPort: an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoints(obj: Obj) -> str:
    subsets = dicts(obj, "subsets")
    if not subsets:
        return NONE
    shown: list[str] = []
    limit, count, more = 3, 0, False
    for ss in subsets:
        addresses = dicts(ss, "addresses")
        ports = dicts(ss, "ports")
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(gstr(a, "ip"))
            continue
        for p in ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_join_host_port(gstr(a, "ip"), gint(p, "port")))
    text = ",".join(shown)
    if more:
        return f"{text} + {count - limit} more..."
    return text


@register("", "Endpoints", [NAME, col("Endpoints", doc("corev1.Endpoints.subsets")), AGE])
def endpoints_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), format_endpoints(obj), age(obj, now)]


# --------------------------------------------------------------------------- Node


def node_roles(node: Obj) -> list[str]:
    roles: set[str] = set()
    for k, v in (get(node, "metadata", "labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/") :]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(str(v))
    return sorted(roles)


def _node_address(node: Obj, kind: str) -> str:
    for a in dicts(node, "status", "addresses"):
        if a.get("type") == kind:
            return gstr(a, "address")
    return NONE


@register(
    "",
    "Node",
    [
        NAME,
        col("Status", "The status of the node"),
        col("Roles", "The roles of the node"),
        AGE,
        col("Version", doc("corev1.NodeSystemInfo.kubeletVersion")),
        wide("Internal-IP", doc("corev1.NodeStatus.addresses")),
        wide("External-IP", doc("corev1.NodeStatus.addresses")),
        wide("OS-Image", doc("corev1.NodeSystemInfo.osImage")),
        wide("Kernel-Version", doc("corev1.NodeSystemInfo.kernelVersion")),
        wide("Container-Runtime", doc("corev1.NodeSystemInfo.containerRuntimeVersion")),
    ],
)
def node_cells(node: Obj, now: datetime) -> list[Any]:
    status: list[str] = []
    ready = None
    for c in dicts(node, "status", "conditions"):
        if c.get("type") == "Ready":
            ready = c  # the last one of a type wins, as in a map keyed by type
    if ready is not None:
        status.append("Ready" if ready.get("status") == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if get(node, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    info = gdict(node, "status", "nodeInfo")
    kernel = gstr(info, "kernelVersion") or UNKNOWN
    if gstr(info, "architecture"):
        kernel = f"{kernel} ({gstr(info, 'architecture')})"
    return [
        name(node),
        ",".join(status),
        ",".join(node_roles(node)) or NONE,
        age(node, now),
        gstr(info, "kubeletVersion"),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        gstr(info, "osImage") or UNKNOWN,
        kernel,
        gstr(info, "containerRuntimeVersion") or UNKNOWN,
    ]


# --------------------------------------------------------------------------- Event (core/v1 and events.k8s.io/v1)


def core_event(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event in the core/v1 shape (they are one object, served by both groups)."""
    if (
        "regarding" not in obj
        and "note" not in obj
        and "deprecatedSource" not in obj
        and "reportingController" not in obj
    ):
        return obj
    out: Obj = {
        "metadata": obj.get("metadata") or {},
        "involvedObject": obj.get("regarding") or {},
        "reason": obj.get("reason"),
        "message": obj.get("note"),
        "source": obj.get("deprecatedSource") or {},
        "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
        "lastTimestamp": obj.get("deprecatedLastTimestamp"),
        "count": obj.get("deprecatedCount"),
        "type": obj.get("type"),
        "eventTime": obj.get("eventTime"),
        "series": obj.get("series"),
        "reportingComponent": obj.get("reportingController"),
        "reportingInstance": obj.get("reportingInstance"),
    }
    return out


_EVENT_COLUMNS = [
    col("Last Seen", doc("corev1.Event.lastTimestamp")),
    col("Type", doc("corev1.Event.type")),
    col("Reason", doc("corev1.Event.reason")),
    col("Object", doc("corev1.Event.involvedObject")),
    wide("Subobject", doc("corev1.ObjectReference.fieldPath")),
    wide("Source", doc("corev1.Event.source")),
    col("Message", doc("corev1.Event.message")),
    wide("First Seen", doc("corev1.Event.firstTimestamp")),
    wide("Count", doc("corev1.Event.count")),
    Column("Name", "string", NAME.description, priority=1, format="name"),
]


@register("", "Event", _EVENT_COLUMNS)
def event_cells(obj: Obj, now: datetime) -> list[Any]:
    ev = core_event(obj)
    first = (
        since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") else since(ev.get("eventTime"), now)
    )
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = gint(ev, "count")
    if isinstance(ev.get("series"), dict):
        last = since(get(ev, "series", "lastObservedTime"), now)
        count = gint(ev, "series", "count")
    elif count == 0:
        count = 1  # singleton events of the new API have no count
    kind = gstr(ev, "involvedObject", "kind").lower()
    target = f"{kind}/{gstr(ev, 'involvedObject', 'name')}" if gstr(ev, "involvedObject", "name") else kind
    component = gstr(ev, "source", "component") or gstr(ev, "reportingComponent")
    instance = gstr(ev, "source", "host") or gstr(ev, "reportingInstance")
    source = f"{component}, {instance}" if instance else component
    return [
        last,
        gstr(ev, "type"),
        gstr(ev, "reason"),
        target,
        gstr(ev, "involvedObject", "fieldPath"),
        source,
        gstr(ev, "message").strip(),
        first,
        count,
        name(ev),
    ]


register("events.k8s.io", "Event", _EVENT_COLUMNS)(event_cells)


# --------------------------------------------------------------------------- Namespace, Secret, ServiceAccount, ConfigMap


@register("", "Namespace", [NAME, col("Status", "The status of the namespace"), AGE])
def namespace_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), gstr(obj, "status", "phase"), age(obj, now)]


@register(
    "", "Secret", [NAME, col("Type", doc("corev1.Secret.type")), col("Data", doc("corev1.Secret.data")), AGE]
)
def secret_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), gstr(obj, "type"), len(gdict(obj, "data")), age(obj, now)]


@register("", "ServiceAccount", [NAME, col("Secrets", doc("corev1.ServiceAccount.secrets")), AGE])
def service_account_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), len(glist(obj, "secrets")), age(obj, now)]


@register("", "ConfigMap", [NAME, col("Data", doc("corev1.ConfigMap.data")), AGE])
def config_map_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), len(gdict(obj, "data")) + len(gdict(obj, "binaryData")), age(obj, now)]


# --------------------------------------------------------------------------- PersistentVolume(Claim)


def access_modes(modes: list[str]) -> str:
    """GetAccessModesAsString: short names in a fixed order."""
    short = [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    return ",".join(s for mode, s in short if mode in modes)


def _storage_class(obj: Obj) -> str:
    annotations = gdict(obj, "metadata", "annotations")
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return str(annotations["volume.beta.kubernetes.io/storage-class"])
    return gstr(obj, "spec", "storageClassName")


@register(
    "",
    "PersistentVolume",
    [
        NAME,
        col("Capacity", doc("corev1.PersistentVolumeSpec.capacity")),
        col("Access Modes", doc("corev1.PersistentVolumeSpec.accessModes")),
        col("Reclaim Policy", doc("corev1.PersistentVolumeSpec.persistentVolumeReclaimPolicy")),
        col("Status", doc("corev1.PersistentVolumeStatus.phase")),
        col("Claim", doc("corev1.PersistentVolumeSpec.claimRef")),
        col("StorageClass", "StorageClass of the pv"),
        col("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        col("Reason", doc("corev1.PersistentVolumeStatus.reason")),
        AGE,
        wide("VolumeMode", doc("corev1.PersistentVolumeSpec.volumeMode")),
    ],
)
def persistent_volume_cells(obj: Obj, now: datetime) -> list[Any]:
    claim = ""
    if isinstance(get(obj, "spec", "claimRef"), dict):
        claim = f"{gstr(obj, 'spec', 'claimRef', 'namespace')}/{gstr(obj, 'spec', 'claimRef', 'name')}"
    phase = "Terminating" if has(obj, "metadata", "deletionTimestamp") else gstr(obj, "status", "phase")
    return [
        name(obj),
        quantity(get(obj, "spec", "capacity", "storage")),
        access_modes(strings(obj, "spec", "accessModes")),
        gstr(obj, "spec", "persistentVolumeReclaimPolicy"),
        phase,
        claim,
        _storage_class(obj),
        gstr(obj, "spec", "volumeAttributesClassName")
        if has(obj, "spec", "volumeAttributesClassName")
        else UNSET,
        gstr(obj, "status", "reason"),
        age(obj, now),
        gstr(obj, "spec", "volumeMode") if has(obj, "spec", "volumeMode") else UNSET,
    ]


@register(
    "",
    "PersistentVolumeClaim",
    [
        NAME,
        col("Status", doc("corev1.PersistentVolumeClaimStatus.phase")),
        col("Volume", doc("corev1.PersistentVolumeClaimSpec.volumeName")),
        col("Capacity", doc("corev1.PersistentVolumeClaimStatus.capacity")),
        col("Access Modes", doc("corev1.PersistentVolumeClaimStatus.accessModes")),
        col("StorageClass", "StorageClass of the pvc"),
        col("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        AGE,
        wide("VolumeMode", doc("corev1.PersistentVolumeClaimSpec.volumeMode")),
    ],
)
def persistent_volume_claim_cells(obj: Obj, now: datetime) -> list[Any]:
    phase = "Terminating" if has(obj, "metadata", "deletionTimestamp") else gstr(obj, "status", "phase")
    capacity = modes = ""
    if gstr(obj, "spec", "volumeName"):
        modes = access_modes(strings(obj, "status", "accessModes"))
        capacity = quantity(get(obj, "status", "capacity", "storage"))
    return [
        name(obj),
        phase,
        gstr(obj, "spec", "volumeName"),
        capacity,
        modes,
        _storage_class(obj),
        gstr(obj, "spec", "volumeAttributesClassName")
        if has(obj, "spec", "volumeAttributesClassName")
        else UNSET,
        age(obj, now),
        gstr(obj, "spec", "volumeMode") if has(obj, "spec", "volumeMode") else UNSET,
    ]


# --------------------------------------------------------------------------- ComponentStatus, ResourceQuota, Status


@register(
    "",
    "ComponentStatus",
    [
        NAME,
        col("Status", "Status of the component conditions"),
        col("Message", "Message of the component conditions"),
        col("Error", "Error of the component conditions"),
    ],
)
def component_status_cells(obj: Obj, now: datetime) -> list[Any]:
    status, message, error = "Unknown", "", ""
    for c in dicts(obj, "conditions"):
        if c.get("type") == "Healthy":
            status = "Healthy" if c.get("status") == "True" else "Unhealthy"
            message, error = gstr(c, "message"), gstr(c, "error")
            break
    return [name(obj), status, message, error]


@register(
    "",
    "ResourceQuota",
    [
        NAME,
        col("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
        col(
            "Limit",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
        AGE,
    ],
)
def resource_quota_cells(obj: Obj, now: datetime) -> list[Any]:
    hard = gdict(obj, "status", "hard")
    used = gdict(obj, "status", "used")
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        pieces = resource.split(".")
        target = limits if len(pieces) > 1 and pieces[0] == "limits" else requests
        target.append(f"{resource}: {quantity(used.get(resource))}/{quantity(hard[resource])}")
    return [name(obj), ", ".join(requests), ", ".join(limits), age(obj, now)]


_STATUS_COLUMNS = [
    col("Status", doc("metav1.Status.status")),
    col("Reason", doc("metav1.Status.reason")),
    col("Message", doc("metav1.Status.Message")),  # sic: upstream looks up "Message", which has no doc
]


@register("meta.k8s.io", "Status", _STATUS_COLUMNS)
def status_cells(obj: Obj, now: datetime) -> list[Any]:
    return [gstr(obj, "status"), gstr(obj, "reason"), gstr(obj, "message")]


register("", "Status", _STATUS_COLUMNS)(status_cells)  # a Status says apiVersion: v1
