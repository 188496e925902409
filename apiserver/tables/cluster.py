"""Printers for the cluster-level groups: RBAC, storage, networking, coordination, discovery, scheduling,
node, certificates, admission, API extension and registration, flow control and dynamic resources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiserver.tables._base import AGE, CREATED_AT, NAME, Column, col, doc, register, wide
from apiserver.tables._fmt import (
    NONE,
    UNSET,
    Obj,
    age,
    condition,
    dicts,
    format_label_selector,
    gdict,
    get,
    gint,
    glist,
    go_label_selector,
    gstr,
    has,
    human_duration,
    list_with_more,
    name,
    quantity,
    rfc3339,
    strings,
)

# --------------------------------------------------------------------------- rbac.authorization.k8s.io


def _binding_cells(obj: Obj, now: datetime) -> list[Any]:
    users: list[str] = []
    groups: list[str] = []
    accounts: list[str] = []
    for s in dicts(obj, "subjects"):
        kind = gstr(s, "kind")
        if kind == "User":
            users.append(gstr(s, "name"))
        elif kind == "Group":
            groups.append(gstr(s, "name"))
        elif kind == "ServiceAccount":
            accounts.append(f"{gstr(s, 'namespace')}/{gstr(s, 'name')}")
    return [
        name(obj),
        f"{gstr(obj, 'roleRef', 'kind')}/{gstr(obj, 'roleRef', 'name')}",
        age(obj, now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(accounts),
    ]


def _binding_columns(kind: str, what: str) -> list[Column]:
    return [
        NAME,
        col("Role", doc(f"rbacv1beta1.{kind}.roleRef")),
        AGE,
        wide("Users", f"Users in the {what}"),
        wide("Groups", f"Groups in the {what}"),
        wide("ServiceAccounts", f"ServiceAccounts in the {what}"),
    ]


register("rbac.authorization.k8s.io", "RoleBinding", _binding_columns("RoleBinding", "roleBinding"))(
    _binding_cells
)
register(
    "rbac.authorization.k8s.io",
    "ClusterRoleBinding",
    _binding_columns("ClusterRoleBinding", "clusterRoleBinding"),
)(_binding_cells)

# --------------------------------------------------------------------------- storage.k8s.io

DEFAULT_VOLUME_ATTRIBUTES_CLASS = "volumeattributesclass.alpha.kubernetes.io/is-default-class"
DEFAULT_STORAGE_CLASS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def is_default_storage_class(obj: Obj) -> bool:
    annotations = gdict(obj, "metadata", "annotations")
    return any(annotations.get(a) == "true" for a in DEFAULT_STORAGE_CLASS)


@register(
    "storage.k8s.io",
    "StorageClass",
    [
        NAME,
        col("Provisioner", doc("storagev1.StorageClass.provisioner")),
        col("ReclaimPolicy", doc("storagev1.StorageClass.reclaimPolicy")),
        col("VolumeBindingMode", doc("storagev1.StorageClass.volumeBindingMode")),
        col("AllowVolumeExpansion", doc("storagev1.StorageClass.allowVolumeExpansion")),
        AGE,
    ],
)
def storage_class_cells(obj: Obj, now: datetime) -> list[Any]:
    """One StorageClass on its own: never marked "(default)" (a list marks its effective default)."""
    return [
        name(obj),
        gstr(obj, "provisioner"),
        gstr(obj, "reclaimPolicy") if has(obj, "reclaimPolicy") else "Delete",
        gstr(obj, "volumeBindingMode") if has(obj, "volumeBindingMode") else "Immediate",
        get(obj, "allowVolumeExpansion") is True,
        age(obj, now),
    ]


@register(
    "storage.k8s.io",
    "VolumeAttributesClass",
    [NAME, col("DriverName", doc("storagev1beta1.VolumeAttributesClass.driverName")), AGE],
)
def volume_attributes_class_cells(obj: Obj, now: datetime) -> list[Any]:
    vac_name = name(obj)
    if gdict(obj, "metadata", "annotations").get(DEFAULT_VOLUME_ATTRIBUTES_CLASS) == "true":
        vac_name += " (default)"
    return [vac_name, gstr(obj, "driverName"), age(obj, now)]


@register(
    "storage.k8s.io",
    "VolumeAttachment",
    [
        NAME,
        Column("Attacher", "string", doc("storagev1.VolumeAttachmentSpec.attacher"), format="name"),
        col("PV", doc("storagev1.VolumeAttachmentSource.persistentVolumeName")),
        col("Node", doc("storagev1.VolumeAttachmentSpec.nodeName")),
        col("Attached", doc("storagev1.VolumeAttachmentStatus.attached"), "boolean"),
        AGE,
    ],
)
def volume_attachment_cells(obj: Obj, now: datetime) -> list[Any]:
    return [
        name(obj),
        gstr(obj, "spec", "attacher"),
        gstr(obj, "spec", "source", "persistentVolumeName"),
        gstr(obj, "spec", "nodeName"),
        get(obj, "status", "attached") is True,
        age(obj, now),
    ]


@register(
    "storage.k8s.io",
    "CSINode",
    [
        NAME,
        col("Drivers", "Drivers indicates the number of CSI drivers registered on the node", "integer"),
        AGE,
    ],
)
def csi_node_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), len(glist(obj, "spec", "drivers")), age(obj, now)]


@register(
    "storage.k8s.io",
    "CSIDriver",
    [
        NAME,
        col("AttachRequired", doc("storagev1.CSIDriverSpec.attachRequired"), "boolean"),
        col("PodInfoOnMount", doc("storagev1.CSIDriverSpec.podInfoOnMount"), "boolean"),
        col("StorageCapacity", doc("storagev1.CSIDriverSpec.storageCapacity"), "boolean"),
        col("TokenRequests", doc("storagev1.CSIDriverSpec.tokenRequests")),
        col("RequiresRepublish", doc("storagev1.CSIDriverSpec.requiresRepublish"), "boolean"),
        col("Modes", doc("storagev1.CSIDriverSpec.volumeLifecycleModes")),
        AGE,
    ],
)
def csi_driver_cells(obj: Obj, now: datetime) -> list[Any]:
    attach = get(obj, "spec", "attachRequired")
    token_requests = UNSET
    if isinstance(get(obj, "spec", "tokenRequests"), list):
        token_requests = ",".join(gstr(t, "audience") for t in dicts(obj, "spec", "tokenRequests"))
    return [
        name(obj),
        attach if isinstance(attach, bool) else True,
        get(obj, "spec", "podInfoOnMount") is True,
        get(obj, "spec", "storageCapacity") is True,
        token_requests,
        get(obj, "spec", "requiresRepublish") is True,
        ",".join(strings(obj, "spec", "volumeLifecycleModes")) or NONE,
        age(obj, now),
    ]


@register(
    "storage.k8s.io",
    "CSIStorageCapacity",
    [
        NAME,
        col("StorageClassName", doc("storagev1.CSIStorageCapacity.storageClassName")),
        col("Capacity", doc("storagev1.CSIStorageCapacity.capacity")),
    ],
)
def csi_storage_capacity_cells(obj: Obj, now: datetime) -> list[Any]:
    capacity = quantity(get(obj, "capacity")) if has(obj, "capacity") else UNSET
    return [name(obj), gstr(obj, "storageClassName"), capacity]


# --------------------------------------------------------------------------- networking.k8s.io


def _ingress_hosts(rules: list[Obj]) -> str:
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and gstr(rule, "host"):
            hosts.append(gstr(rule, "host"))
    if not hosts:
        return "*"
    if more:
        return f"{','.join(hosts)} + {len(rules) - 3} more..."
    return ",".join(hosts)


@register(
    "networking.k8s.io",
    "Ingress",
    [
        NAME,
        col(
            "Class", "The name of the IngressClass resource that should be used for additional configuration"
        ),
        col("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "Ports of TLS configurations that open"),
        AGE,
    ],
)
def ingress_cells(obj: Obj, now: datetime) -> list[Any]:
    found: set[str] = set()
    for ing in dicts(obj, "status", "loadBalancer", "ingress"):
        if gstr(ing, "ip"):
            found.add(gstr(ing, "ip"))
        elif gstr(ing, "hostname"):
            found.add(gstr(ing, "hostname"))
    return [
        name(obj),
        gstr(obj, "spec", "ingressClassName") if has(obj, "spec", "ingressClassName") else NONE,
        _ingress_hosts(dicts(obj, "spec", "rules")),
        ",".join(sorted(found)),
        "80, 443" if glist(obj, "spec", "tls") else "80",
        age(obj, now),
    ]


@register(
    "networking.k8s.io",
    "IngressClass",
    [
        NAME,
        col("Controller", "Controller that is responsible for handling this class"),
        col("Parameters", "A reference to a resource with additional parameters"),
        AGE,
    ],
)
def ingress_class_cells(obj: Obj, now: datetime) -> list[Any]:
    class_name = name(obj)
    if gdict(obj, "metadata", "annotations").get("ingressclass.kubernetes.io/is-default-class") == "true":
        class_name += " (default)"
    parameters = NONE
    params = get(obj, "spec", "parameters")
    if isinstance(params, dict):
        parameters = gstr(params, "kind")
        if has(params, "apiGroup"):
            parameters += "." + gstr(params, "apiGroup")
        parameters += "/" + gstr(params, "name")
    return [class_name, gstr(obj, "spec", "controller"), parameters, age(obj, now)]


@register(
    "networking.k8s.io",
    "NetworkPolicy",
    [NAME, col("Pod-Selector", doc("extensionsv1beta1.NetworkPolicySpec.podSelector")), AGE],
)
def network_policy_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), format_label_selector(gdict(obj, "spec", "podSelector")), age(obj, now)]


@register(
    "networking.k8s.io",
    "ServiceCIDR",
    [NAME, col("CIDRs", doc("networkingv1beta1.ServiceCIDRSpec.cidrs")), AGE],
)
def service_cidr_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), ",".join(strings(obj, "spec", "cidrs")), age(obj, now)]


@register(
    "networking.k8s.io",
    "IPAddress",
    [NAME, col("ParentRef", doc("networkingv1beta1.IPAddressSpec.parentRef"))],
)
def ip_address_cells(obj: Obj, now: datetime) -> list[Any]:
    """Name and parent; the upstream printer also appends an age that has no column."""
    parent = NONE
    ref = get(obj, "spec", "parentRef")
    if isinstance(ref, dict):
        resource, group = gstr(ref, "resource"), gstr(ref, "group")
        parent = (f"{resource}.{group}" if group else resource).lower()
        if gstr(ref, "namespace"):
            parent += "/" + gstr(ref, "namespace")
        parent += "/" + gstr(ref, "name")
    return [name(obj), parent, age(obj, now)]


# --------------------------------------------------------------------------- coordination, discovery, scheduling, node


@register(
    "coordination.k8s.io", "Lease", [NAME, col("Holder", doc("coordinationv1.LeaseSpec.holderIdentity")), AGE]
)
def lease_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), gstr(obj, "spec", "holderIdentity"), age(obj, now)]


@register(
    "coordination.k8s.io",
    "LeaseCandidate",
    [
        NAME,
        col("LeaseName", doc("coordinationv1alpha2.LeaseCandidateSpec.leaseName")),
        col("BinaryVersion", doc("metav1.ObjectMeta.binaryVersion")),
        col("EmulationVersion", doc("metav1.ObjectMeta.emulationVersion")),
        AGE,
    ],
)
def lease_candidate_cells(obj: Obj, now: datetime) -> list[Any]:
    return [
        name(obj),
        gstr(obj, "spec", "leaseName"),
        gstr(obj, "spec", "binaryVersion"),
        gstr(obj, "spec", "emulationVersion"),
        age(obj, now),
    ]


@register(
    "discovery.k8s.io",
    "EndpointSlice",
    [
        NAME,
        col("AddressType", doc("discoveryv1beta1.EndpointSlice.addressType")),
        col("Ports", doc("discoveryv1beta1.EndpointSlice.ports")),
        col("Endpoints", doc("discoveryv1beta1.EndpointSlice.endpoints")),
        AGE,
    ],
)
def endpoint_slice_cells(obj: Obj, now: datetime) -> list[Any]:
    ports: list[str] = []
    for p in dicts(obj, "ports"):
        if has(p, "port"):
            ports.append(str(gint(p, "port")))
        elif has(p, "name"):
            ports.append(gstr(p, "name"))
        else:
            ports.append("*")
    addresses = [a for e in dicts(obj, "endpoints") for a in strings(e, "addresses")]
    return [
        name(obj),
        gstr(obj, "addressType"),
        list_with_more(ports),
        list_with_more(addresses),
        age(obj, now),
    ]


@register(
    "scheduling.k8s.io",
    "PriorityClass",
    [
        NAME,
        col("Value", doc("schedulingv1.PriorityClass.value"), "integer"),
        col("Global-Default", doc("schedulingv1.PriorityClass.globalDefault"), "boolean"),
        AGE,
        col("PreemptionPolicy", doc("schedulingv1.PriorityClass.preemptionPolicy")),
    ],
)
def priority_class_cells(obj: Obj, now: datetime) -> list[Any]:
    return [
        name(obj),
        gint(obj, "value"),
        get(obj, "globalDefault") is True,
        age(obj, now),
        gstr(obj, "preemptionPolicy"),
    ]


@register("node.k8s.io", "RuntimeClass", [NAME, col("Handler", doc("metav1.ObjectMeta.handler")), AGE])
def runtime_class_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), gstr(obj, "handler"), age(obj, now)]


# --------------------------------------------------------------------------- certificates.k8s.io


def csr_condition(obj: Obj) -> str:
    types = {gstr(c, "type") for c in dicts(obj, "status", "conditions")}
    status = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        status += ",Failed"
    if gstr(obj, "status", "certificate"):
        status += ",Issued"
    return status


@register(
    "certificates.k8s.io",
    "CertificateSigningRequest",
    [
        NAME,
        AGE,
        col("SignerName", doc("certificatesv1beta1.CertificateSigningRequestSpec.signerName")),
        col("Requestor", doc("certificatesv1beta1.CertificateSigningRequestSpec.request")),
        col("RequestedDuration", doc("certificatesv1beta1.CertificateSigningRequestSpec.expirationSeconds")),
        col("Condition", doc("certificatesv1beta1.CertificateSigningRequestStatus.conditions")),
    ],
)
def csr_cells(obj: Obj, now: datetime) -> list[Any]:
    duration = (
        human_duration(gint(obj, "spec", "expirationSeconds"))
        if has(obj, "spec", "expirationSeconds")
        else NONE
    )
    return [
        name(obj),
        age(obj, now),
        gstr(obj, "spec", "signerName") or NONE,
        gstr(obj, "spec", "username"),
        duration,
        csr_condition(obj),
    ]


@register(
    "certificates.k8s.io",
    "ClusterTrustBundle",
    [NAME, col("SignerName", doc("certificatesv1alpha1.ClusterTrustBundleSpec.signerName"))],
)
def cluster_trust_bundle_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), gstr(obj, "spec", "signerName") or NONE]


# --------------------------------------------------------------------------- admissionregistration.k8s.io

_WEBHOOKS = col(
    "Webhooks", "Webhooks indicates the number of webhooks registered in this configuration", "integer"
)
_PARAM_KIND = col("ParamKind", "ParamKind specifies the kind of resources used to parameterize this policy")
_POLICY_NAME = col(
    "PolicyName", "PolicyName indicates the policy definition which the policy binding binded to"
)
_PARAM_REF = col("ParamRef", "ParamRef indicates the param resource which sets the configration param")


@register(
    "admissionregistration.k8s.io",
    ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
    [NAME, _WEBHOOKS, AGE],
)
def webhook_configuration_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), len(glist(obj, "webhooks")), age(obj, now)]


def _param_kind(obj: Obj) -> str:
    pk = get(obj, "spec", "paramKind")
    if not isinstance(pk, dict):
        return UNSET
    return f"{gstr(pk, 'apiVersion')}/{gstr(pk, 'kind')}"


@register(
    "admissionregistration.k8s.io",
    "ValidatingAdmissionPolicy",
    [
        NAME,
        col(
            "Validations",
            "Validations indicates the number of validation rules defined in this configuration",
            "integer",
        ),
        _PARAM_KIND,
        AGE,
    ],
)
def validating_admission_policy_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), len(glist(obj, "spec", "validations")), _param_kind(obj), age(obj, now)]


@register(
    "admissionregistration.k8s.io",
    "MutatingAdmissionPolicy",
    [
        NAME,
        col(
            "Mutations",
            "Mutation indicates the number of mutations rules defined in this configuration",
            "integer",
        ),
        _PARAM_KIND,
        AGE,
    ],
)
def mutating_admission_policy_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), len(glist(obj, "spec", "mutations")), _param_kind(obj), age(obj, now)]


@register(
    "admissionregistration.k8s.io",
    ("ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicyBinding"),
    [NAME, _POLICY_NAME, _PARAM_REF, AGE],
)
def admission_policy_binding_cells(obj: Obj, now: datetime) -> list[Any]:
    param = UNSET
    ref = get(obj, "spec", "paramRef")
    if isinstance(ref, dict):
        if gstr(ref, "name"):
            # the binding cannot tell whether the param is cluster-scoped: no namespace is "*"
            ns = gstr(ref, "namespace")
            param = f"{ns}/{gstr(ref, 'name')}" if ns else f"*/{gstr(ref, 'name')}"
        elif isinstance(get(ref, "selector"), dict):
            param = go_label_selector(gdict(ref, "selector"))
    return [name(obj), gstr(obj, "spec", "policyName"), param, age(obj, now)]


# --------------------------------------------------------------------------- apiextensions.k8s.io, apiregistration.k8s.io


@register(
    "apiextensions.k8s.io",
    "CustomResourceDefinition",
    [
        NAME,
        col("Scope", "Cluster/Namespaced"),
        col("Versions", "Served versions"),
        CREATED_AT,
        wide("Group", "API group"),
        wide("Kind", "CustomResource kind"),
        wide("ShortNames", "Short names"),
        wide("Established", "Established status", "boolean"),
    ],
    empty_rows_null=True,
)
def crd_cells(obj: Obj, now: datetime) -> list[Any]:
    versions = sorted(
        gstr(v, "name") + ("(storage)" if v.get("storage") is True else "")
        for v in dicts(obj, "spec", "versions")
        if v.get("served") is True
    )
    established = condition(obj, "Established")
    return [
        name(obj),
        gstr(obj, "spec", "scope"),
        ",".join(versions),
        rfc3339(get(obj, "metadata", "creationTimestamp")),
        gstr(obj, "spec", "group"),
        gstr(obj, "spec", "names", "kind"),
        ",".join(strings(obj, "spec", "names", "shortNames")),
        established is not None and established.get("status") == "True",
    ]


@register(
    "apiregistration.k8s.io",
    "APIService",
    [
        NAME,
        col("Service", "The reference to the service that hosts this API endpoint."),
        col("Available", "Whether this service is available."),
        AGE,
    ],
    always_columns=True,
)
def api_service_cells(obj: Obj, now: datetime) -> list[Any]:
    service = "Local"
    if isinstance(get(obj, "spec", "service"), dict):
        service = f"{gstr(obj, 'spec', 'service', 'namespace')}/{gstr(obj, 'spec', 'service', 'name')}"
    available = "Unknown"
    c = condition(obj, "Available")
    if c is not None:
        status = gstr(c, "status")
        available = f"{status} ({gstr(c, 'reason')})" if status != "True" and gstr(c, "reason") else status
    return [name(obj), service, available, age(obj, now)]


# --------------------------------------------------------------------------- flowcontrol.apiserver.k8s.io


@register(
    "flowcontrol.apiserver.k8s.io",
    "FlowSchema",
    [
        NAME,
        col("PriorityLevel", doc("flowcontrolv1.PriorityLevelConfigurationReference.name")),
        col("MatchingPrecedence", doc("flowcontrolv1.FlowSchemaSpec.matchingPrecedence")),
        col("DistinguisherMethod", doc("flowcontrolv1.FlowSchemaSpec.distinguisherMethod")),
        AGE,
        col("MissingPL", "references a broken or non-existent PriorityLevelConfiguration"),
    ],
)
def flow_schema_cells(obj: Obj, now: datetime) -> list[Any]:
    method = (
        gstr(obj, "spec", "distinguisherMethod", "type") if has(obj, "spec", "distinguisherMethod") else NONE
    )
    dangling = condition(obj, "Dangling")
    return [
        name(obj),
        gstr(obj, "spec", "priorityLevelConfiguration", "name"),
        gint(obj, "spec", "matchingPrecedence"),
        method,
        age(obj, now),
        gstr(dangling, "status") if dangling is not None else "?",
    ]


def flow_schema_order(obj: Obj) -> tuple[int, str]:
    """How a FlowSchema list is printed: by matching precedence, then by name."""
    return gint(obj, "spec", "matchingPrecedence"), name(obj)


@register(
    "flowcontrol.apiserver.k8s.io",
    "PriorityLevelConfiguration",
    [
        NAME,
        col("Type", doc("flowcontrolv1.PriorityLevelConfigurationSpec.type")),
        col(
            "NominalConcurrencyShares",
            doc("flowcontrolv1.LimitedPriorityLevelConfiguration.nominalConcurrencyShares"),
        ),
        col("Queues", doc("flowcontrolv1.QueuingConfiguration.queues")),
        col("HandSize", doc("flowcontrolv1.QueuingConfiguration.handSize")),
        col("QueueLengthLimit", doc("flowcontrolv1.QueuingConfiguration.queueLengthLimit")),
        AGE,
    ],
)
def priority_level_cells(obj: Obj, now: datetime) -> list[Any]:
    shares: Any = NONE
    queues: Any = NONE
    hand_size: Any = NONE
    queue_length: Any = NONE
    limited = get(obj, "spec", "limited")
    if isinstance(limited, dict):
        shares = gint(limited, "nominalConcurrencyShares")
        queuing = get(limited, "limitResponse", "queuing")
        if isinstance(queuing, dict):
            queues, hand_size, queue_length = (
                gint(queuing, "queues"),
                gint(queuing, "handSize"),
                gint(queuing, "queueLengthLimit"),
            )
    return [name(obj), gstr(obj, "spec", "type"), shares, queues, hand_size, queue_length, age(obj, now)]


# --------------------------------------------------------------------------- resource.k8s.io, internal.apiserver.k8s.io


@register("resource.k8s.io", ("DeviceClass", "ResourceClaimTemplate"), [NAME, AGE])
def name_age_cells(obj: Obj, now: datetime) -> list[Any]:
    return [name(obj), age(obj, now)]


@register(
    "resource.k8s.io",
    "ResourceClaim",
    [NAME, col("State", "A summary of the current state (allocated, pending, reserved, etc.)."), AGE],
)
def resource_claim_cells(obj: Obj, now: datetime) -> list[Any]:
    states: list[str] = []
    deleted = has(obj, "metadata", "deletionTimestamp")
    if deleted:
        states.append("deleted")
    if not has(obj, "status", "allocation"):
        if not deleted:
            states.append("pending")
    else:
        states.append("allocated")
        if glist(obj, "status", "reservedFor"):
            states.append("reserved")
    return [name(obj), ",".join(states), age(obj, now)]


@register(
    "resource.k8s.io",
    "ResourceSlice",
    [
        NAME,
        col("Node", doc("resourcev1beta1.ResourceSliceSpec.nodeName")),
        col("Driver", doc("resourcev1beta1.ResourceSliceSpec.driver")),
        col("Pool", doc("resourcev1beta1.ResourcePool.name")),
        AGE,
    ],
)
def resource_slice_cells(obj: Obj, now: datetime) -> list[Any]:
    return [
        name(obj),
        gstr(obj, "spec", "nodeName"),
        gstr(obj, "spec", "driver"),
        gstr(obj, "spec", "pool", "name"),
        age(obj, now),
    ]


@register(
    "internal.apiserver.k8s.io",
    "StorageVersion",
    [
        NAME,
        col(
            "CommonEncodingVersion",
            doc("apiserverinternalv1alpha1.StorageVersionStatus.commonEncodingVersion"),
        ),
        col("StorageVersions", doc("apiserverinternalv1alpha1.StorageVersionStatus.storageVersions")),
        AGE,
    ],
)
def storage_version_cells(obj: Obj, now: datetime) -> list[Any]:
    common = (
        gstr(obj, "status", "commonEncodingVersion") if has(obj, "status", "commonEncodingVersion") else UNSET
    )
    versions = [
        f"{gstr(s, 'apiServerID')}={gstr(s, 'encodingVersion')}"
        for s in dicts(obj, "status", "storageVersions")
    ]
    return [name(obj), common, list_with_more(versions), age(obj, now)]
