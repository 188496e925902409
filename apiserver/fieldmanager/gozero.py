"""Go zero values of built-in API types: what upstream's typed objects contain that a plain dict may lack.

Upstream compares and merges *Go structs* (``typed.FromStructured``), never raw JSON. A value-typed struct
field (``spec``, ``spec.strategy``, a container's ``resources``) is always present as a map; a slice, map or
``metav1.Time`` without ``omitempty`` is present as ``null`` when unset; a non-pointer scalar without
``omitempty`` is present as its zero value. That changes managedFields: creating a Deployment records
``f:strategy`` without a ``.`` entry (the zero object already had ``strategy: {}``) but ``f:rollingUpdate``
with one (a pointer, absent before). :func:`overlay` makes a dict look like the Go struct it encodes.

The same zero values are the OpenAPI ``default`` kube-openapi emits for such fields, which SMD uses for
missing list-map keys (``k:{"containerPort":80,"protocol":"TCP"}``): :func:`key_default`.

``_TABLE`` lists, per definition, the fields that are present in the zero value: ``s`` value struct,
``n`` null, ``z`` zero scalar. It was derived from the ``json`` tags of k8s.io/api and
k8s.io/apimachinery's meta/v1 Go types for Kubernetes 1.37 (``*List`` types omitted).
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["overlay", "overlay_pair", "zero_object", "key_default"]

Obj = dict[str, Any]

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

#: ``+default=`` markers on list-map key fields (others default to their Go zero value)
_KEY_DEFAULTS: dict[tuple[str, str], Any] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.LocalObjectReference", "name"): "",
}

_TABLE = """\
@io.k8s.api.admissionregistration.v1 AuditAnnotation=key:z,valueExpression:z
ExpressionWarning=fieldRef:z,warning:z MatchCondition=expression:z,name:z
MutatingAdmissionPolicy=metadata:s,spec:s MutatingAdmissionPolicyBinding=metadata:s,spec:s
MutatingWebhook=admissionReviewVersions:n,clientConfig:s,name:z MutatingWebhookConfiguration=metadata:s
Mutation=patchType:z ServiceReference=name:z,namespace:z
ValidatingAdmissionPolicy=metadata:s,spec:s,status:s ValidatingAdmissionPolicyBinding=metadata:s,spec:s
ValidatingWebhook=admissionReviewVersions:n,clientConfig:s,name:z
ValidatingWebhookConfiguration=metadata:s Validation=expression:z Variable=expression:z,name:z
@io.k8s.api.admissionregistration.v1alpha1 MutatingAdmissionPolicy=metadata:s,spec:s
MutatingAdmissionPolicyBinding=metadata:s,spec:s Mutation=patchType:z Variable=expression:z,name:z
@io.k8s.api.admissionregistration.v1beta1 MatchCondition=expression:z,name:z
MutatingAdmissionPolicy=metadata:s,spec:s MutatingAdmissionPolicyBinding=metadata:s,spec:s
Mutation=patchType:z Variable=expression:z,name:z
@io.k8s.api.apiserverinternal.v1alpha1 StorageVersion=metadata:s,spec:s,status:s
StorageVersionCondition=lastTransitionTime:n,reason:z,status:z,type:z
@io.k8s.api.apps.v1 ControllerRevision=data:n,metadata:s,revision:z DaemonSet=metadata:s,spec:s,status:s
DaemonSetCondition=lastTransitionTime:n,status:z,type:z DaemonSetSpec=template:s,updateStrategy:s
DaemonSetStatus=currentNumberScheduled:z,desiredNumberScheduled:z,numberMisscheduled:z,numberReady:z
Deployment=metadata:s,spec:s,status:s
DeploymentCondition=lastTransitionTime:n,lastUpdateTime:n,status:z,type:z
DeploymentSpec=strategy:s,template:s ReplicaSet=metadata:s,spec:s,status:s
ReplicaSetCondition=lastTransitionTime:n,status:z,type:z ReplicaSetSpec=template:s
ReplicaSetStatus=replicas:z StatefulSet=metadata:s,spec:s,status:s
StatefulSetCondition=lastTransitionTime:n,status:z,type:z StatefulSetOrdinals=start:z
StatefulSetSpec=serviceName:z,template:s,updateStrategy:s
StatefulSetStatus=availableReplicas:z,replicas:z
@io.k8s.api.authentication.v1 SelfSubjectReview=metadata:s,status:s SelfSubjectReviewStatus=userInfo:s
TokenRequest=metadata:s,spec:s,status:s TokenRequestSpec=audiences:n
TokenRequestStatus=expirationTimestamp:n,token:z TokenReview=metadata:s,spec:s,status:s
TokenReviewStatus=user:s
@io.k8s.api.authorization.v1 LocalSubjectAccessReview=metadata:s,spec:s,status:s NonResourceRule=verbs:n
ResourceRule=verbs:n SelfSubjectAccessReview=metadata:s,spec:s,status:s
SelfSubjectRulesReview=metadata:s,spec:s,status:s SubjectAccessReview=metadata:s,spec:s,status:s
SubjectAccessReviewStatus=allowed:z
SubjectRulesReviewStatus=incomplete:z,nonResourceRules:n,resourceRules:n
@io.k8s.api.autoscaling.v1 CrossVersionObjectReference=kind:z,name:z
HorizontalPodAutoscaler=metadata:s,spec:s,status:s
HorizontalPodAutoscalerSpec=maxReplicas:z,scaleTargetRef:s
HorizontalPodAutoscalerStatus=currentReplicas:z,desiredReplicas:z Scale=metadata:s,spec:s,status:s
ScaleStatus=replicas:z
@io.k8s.api.autoscaling.v2 ContainerResourceMetricSource=container:z,name:z,target:s
ContainerResourceMetricStatus=container:z,current:s,name:z CrossVersionObjectReference=kind:z,name:z
ExternalMetricSource=metric:s,target:s ExternalMetricStatus=current:s,metric:s
HPAScalingPolicy=periodSeconds:z,type:z,value:z HorizontalPodAutoscaler=metadata:s,spec:s,status:s
HorizontalPodAutoscalerCondition=lastTransitionTime:n,status:z,type:z
HorizontalPodAutoscalerSpec=maxReplicas:z,scaleTargetRef:s
HorizontalPodAutoscalerStatus=currentMetrics:n,desiredReplicas:z MetricIdentifier=name:z
MetricSpec=type:z MetricStatus=type:z MetricTarget=type:z
ObjectMetricSource=describedObject:s,metric:s,target:s
ObjectMetricStatus=current:s,describedObject:s,metric:s PodsMetricSource=metric:s,target:s
PodsMetricStatus=current:s,metric:s ResourceMetricSource=name:z,target:s
ResourceMetricStatus=current:s,name:z
@io.k8s.api.batch.v1 CronJob=metadata:s,spec:s,status:s CronJobSpec=jobTemplate:s,schedule:z
Job=metadata:s,spec:s,status:s JobCondition=lastProbeTime:n,lastTransitionTime:n,status:z,type:z
JobSpec=template:s JobTemplateSpec=metadata:s,spec:s PodFailurePolicy=rules:n
PodFailurePolicyOnExitCodesRequirement=operator:z,values:n
PodFailurePolicyOnPodConditionsPattern=status:z,type:z PodFailurePolicyRule=action:z
SuccessPolicy=rules:n
@io.k8s.api.certificates.v1 CertificateSigningRequest=metadata:s,spec:s,status:s
CertificateSigningRequestCondition=lastTransitionTime:n,lastUpdateTime:n,status:z,type:z
CertificateSigningRequestSpec=request:n,signerName:z ClusterTrustBundle=metadata:s,spec:s
ClusterTrustBundleSpec=trustBundle:z PodCertificateRequest=metadata:s,spec:s,status:s
PodCertificateRequestSpec=nodeName:z,nodeUID:z,podName:z,podUID:z,serviceAccountName:z,serviceAccountUID:z,signerName:z,stubPKCS10Request:n
@io.k8s.api.certificates.v1beta1 ClusterTrustBundle=metadata:s,spec:s
ClusterTrustBundleSpec=trustBundle:z PodCertificateRequest=metadata:s,spec:s,status:s
PodCertificateRequestSpec=nodeName:z,nodeUID:z,pkixPublicKey:n,podName:z,podUID:z,proofOfPossession:n,serviceAccountName:z,serviceAccountUID:z,signerName:z,stubPKCS10Request:n
@io.k8s.api.coordination.v1 Lease=metadata:s,spec:s
@io.k8s.api.coordination.v1alpha2 LeaseCandidate=metadata:s,spec:s
LeaseCandidateSpec=binaryVersion:z,leaseName:z
@io.k8s.api.coordination.v1beta1 LeaseCandidate=metadata:s,spec:s
LeaseCandidateSpec=binaryVersion:z,leaseName:z
@io.k8s.api.core.v1 AWSElasticBlockStoreVolumeSource=volumeID:z AppArmorProfile=type:z
AttachedVolume=devicePath:z,name:z AzureDiskVolumeSource=diskName:z,diskURI:z
AzureFilePersistentVolumeSource=secretName:z,shareName:z AzureFileVolumeSource=secretName:z,shareName:z
Binding=metadata:s,target:s CSIPersistentVolumeSource=driver:z,volumeHandle:z CSIVolumeSource=driver:z
CephFSPersistentVolumeSource=monitors:n CephFSVolumeSource=monitors:n
CinderPersistentVolumeSource=volumeID:z CinderVolumeSource=volumeID:z
ClusterTrustBundleProjection=path:z ComponentCondition=status:z,type:z ComponentStatus=metadata:s
ConfigMap=metadata:s ConfigMapKeySelector=key:z
ConfigMapNodeConfigSource=kubeletConfigKey:z,name:z,namespace:z Container=name:z,resources:s
ContainerExtendedResourceRequest=containerName:z,requestName:z,resourceName:z ContainerImage=names:n
ContainerPort=containerPort:z ContainerResizePolicy=resourceName:z,restartPolicy:z
ContainerStateRunning=startedAt:n ContainerStateTerminated=exitCode:z,finishedAt:n,startedAt:n
ContainerStatus=image:z,imageID:z,lastState:s,name:z,ready:z,restartCount:z,state:s
DaemonEndpoint=Port:z DownwardAPIVolumeFile=path:z EndpointAddress=ip:z EndpointPort=port:z
Endpoints=metadata:s EnvVar=name:z
Event=eventTime:n,firstTimestamp:n,involvedObject:s,lastTimestamp:n,metadata:s,reportingComponent:z,reportingInstance:z,source:s
EventSeries=lastObservedTime:n EvictionResponder=name:z FileKeySelector=key:z,path:z,volumeName:z
FlexPersistentVolumeSource=driver:z FlexVolumeSource=driver:z GCEPersistentDiskVolumeSource=pdName:z
GRPCAction=port:z GitRepoVolumeSource=repository:z GlusterfsPersistentVolumeSource=endpoints:z,path:z
GlusterfsVolumeSource=endpoints:z,path:z HTTPGetAction=port:z HTTPHeader=name:z,value:z HostAlias=ip:z
HostIP=ip:z HostPathVolumeSource=path:z ISCSIPersistentVolumeSource=iqn:z,lun:z,targetPortal:z
ISCSIVolumeSource=iqn:z,lun:z,targetPortal:z KeyToPath=key:z,path:z LimitRange=metadata:s,spec:s
LimitRangeItem=type:z LimitRangeSpec=limits:n LinuxContainerUser=gid:z,uid:z LocalVolumeSource=path:z
ModifyVolumeStatus=status:z NFSVolumeSource=path:z,server:z Namespace=metadata:s,spec:s,status:s
NamespaceCondition=lastTransitionTime:n,status:z,type:z Node=metadata:s,spec:s,status:s
NodeAddress=address:z,type:z NodeAllocatableMappedResources=name:z
NodeAllocatableOverheadResources=name:z NodeAllocatableResourceClaimStatus=resourceClaimName:z
NodeCondition=lastHeartbeatTime:n,lastTransitionTime:n,status:z,type:z
NodeDaemonEndpoints=kubeletEndpoint:s NodeRuntimeHandler=name:z NodeSelector=nodeSelectorTerms:n
NodeSelectorRequirement=key:z,operator:z NodeStatus=daemonEndpoints:s,nodeInfo:s
NodeSystemInfo=architecture:z,bootID:z,containerRuntimeVersion:z,kernelVersion:z,kubeProxyVersion:z,kubeletVersion:z,machineID:z,operatingSystem:z,osImage:z,systemUUID:z
ObjectFieldSelector=fieldPath:z PersistentVolume=metadata:s,spec:s,status:s
PersistentVolumeClaim=metadata:s,spec:s,status:s
PersistentVolumeClaimCondition=lastProbeTime:n,lastTransitionTime:n,status:z,type:z
PersistentVolumeClaimSpec=resources:s PersistentVolumeClaimTemplate=metadata:s,spec:s
PersistentVolumeClaimVolumeSource=claimName:z PhotonPersistentDiskVolumeSource=pdID:z
Pod=metadata:s,spec:s,status:s PodAffinityTerm=topologyKey:z
PodCondition=lastProbeTime:n,lastTransitionTime:n,status:z,type:z
PodExtendedResourceClaimStatus=requestMappings:n,resourceClaimName:z PodIP=ip:z PodOS=name:z
PodReadinessGate=conditionType:z PodResourceClaim=name:z PodResourceClaimStatus=name:z
PodSchedulingGate=name:z PodSpec=containers:n PodTemplate=metadata:s,template:s
PodTemplateSpec=metadata:s,spec:s PodVolumeHealth=lastTransitionTime:n,name:z
PortStatus=port:z,protocol:z PortworxVolumeSource=volumeID:z
PreferredSchedulingTerm=preference:s,weight:z ProjectedVolumeSource=sources:n
QuobyteVolumeSource=registry:z,volume:z RBDPersistentVolumeSource=image:z,monitors:n
RBDVolumeSource=image:z,monitors:n ReplicationController=metadata:s,spec:s,status:s
ReplicationControllerCondition=lastTransitionTime:n,status:z,type:z
ReplicationControllerStatus=replicas:z ResourceClaim=name:z ResourceFieldSelector=resource:z
ResourceHealth=resourceID:z ResourceQuota=metadata:s,spec:s,status:s ResourceStatus=name:z
ScaleIOPersistentVolumeSource=gateway:z,system:z ScaleIOVolumeSource=gateway:z,system:z
ScopedResourceSelectorRequirement=operator:z,scopeName:z SeccompProfile=type:z Secret=metadata:s
SecretKeySelector=key:z Service=metadata:s,spec:s,status:s ServiceAccount=metadata:s
ServiceAccountTokenProjection=path:z ServicePort=port:z ServiceStatus=loadBalancer:s
SleepAction=seconds:z Sysctl=name:z,value:z TCPSocketAction=port:z Taint=effect:z,key:z
TopologySelectorLabelRequirement=key:z,values:n
TopologySpreadConstraint=maxSkew:z,topologyKey:z,whenUnsatisfiable:z
TypedLocalObjectReference=kind:z,name:z TypedObjectReference=kind:z,name:z Volume=name:z
VolumeDevice=devicePath:z,name:z VolumeHealthCondition=reason:z,status:z
VolumeHealthStatus=lastTransitionTime:n VolumeMount=mountPath:z,name:z
VolumeMountStatus=mountPath:z,name:z VsphereVirtualDiskVolumeSource=volumePath:z
WeightedPodAffinityTerm=podAffinityTerm:s,weight:z
@io.k8s.api.discovery.v1 Endpoint=addresses:n,conditions:s
EndpointSlice=addressType:z,endpoints:n,metadata:s,ports:n ForNode=name:z ForZone=name:z
@io.k8s.api.events.v1
Event=deprecatedFirstTimestamp:n,deprecatedLastTimestamp:n,deprecatedSource:s,eventTime:n,metadata:s,regarding:s
EventSeries=count:z,lastObservedTime:n
@io.k8s.api.flowcontrol.v1 FlowDistinguisherMethod=type:z FlowSchema=metadata:s,spec:s,status:s
FlowSchemaCondition=lastTransitionTime:n
FlowSchemaSpec=matchingPrecedence:z,priorityLevelConfiguration:s GroupSubject=name:z
LimitResponse=type:z LimitedPriorityLevelConfiguration=limitResponse:s
NonResourcePolicyRule=nonResourceURLs:n,verbs:n PolicyRulesWithSubjects=subjects:n
PriorityLevelConfiguration=metadata:s,spec:s,status:s
PriorityLevelConfigurationCondition=lastTransitionTime:n PriorityLevelConfigurationReference=name:z
PriorityLevelConfigurationSpec=type:z QueuingConfiguration=handSize:z,queueLengthLimit:z,queues:z
ResourcePolicyRule=apiGroups:n,namespaces:n,resources:n,verbs:n ServiceAccountSubject=name:z,namespace:z
Subject=kind:z UserSubject=name:z
@io.k8s.api.lifecycle.v1alpha1 Eviction=metadata:s,spec:s,status:s EvictionPodReference=name:z,uid:z
EvictionRequest=metadata:s,spec:s,status:s EvictionRequestPodReference=name:z,uid:z
EvictionRequestSpec=intent:z,requester:z,target:s EvictionSpec=target:s Requester=intent:z,name:z
ResponderStatus=name:z TargetResponder=name:z,state:z
@io.k8s.api.networking.v1 HTTPIngressPath=backend:s HTTPIngressRuleValue=paths:n
IPAddress=metadata:s,spec:s IPBlock=cidr:z Ingress=metadata:s,spec:s,status:s
IngressClass=metadata:s,spec:s IngressClassParametersReference=kind:z,name:z
IngressPortStatus=port:z,protocol:z IngressServiceBackend=name:z,port:s IngressStatus=loadBalancer:s
NetworkPolicy=metadata:s,spec:s NetworkPolicySpec=podSelector:s ServiceCIDR=metadata:s,spec:s,status:s
@io.k8s.api.node.v1 RuntimeClass=handler:z,metadata:s
@io.k8s.api.policy.v1 Eviction=metadata:s PodDisruptionBudget=metadata:s,spec:s,status:s
PodDisruptionBudgetStatus=currentHealthy:z,desiredHealthy:z,disruptionsAllowed:z,expectedPods:z
@io.k8s.api.rbac.v1 ClusterRole=metadata:s,rules:n ClusterRoleBinding=metadata:s,roleRef:s
PolicyRule=verbs:n Role=metadata:s,rules:n RoleBinding=metadata:s,roleRef:s
RoleRef=apiGroup:z,kind:z,name:z Subject=kind:z,name:z
@io.k8s.api.resource.v1 AllocatedDeviceStatus=conditions:n,device:z,driver:z,pool:z
AllocationResult=devices:s CELDeviceSelector=expression:z Counter=value:z CounterSet=name:z
Device=name:z DeviceAllocationConfiguration=source:z DeviceCapacity=value:z DeviceClaim=requests:n
DeviceClass=metadata:s,spec:s DeviceCounterConsumption=counterSet:z DeviceRequest=name:z
DeviceRequestAllocationResult=device:z,driver:z,pool:z,request:z
DeviceSubRequest=deviceClassName:z,name:z DeviceTaint=effect:z,key:z
DeviceTaintRule=metadata:s,spec:s,status:s DeviceTaintRuleSpec=taint:s
ExactDeviceRequest=deviceClassName:z OpaqueDeviceConfiguration=driver:z,parameters:n
ResourceClaim=metadata:s,spec:s,status:s ResourceClaimConsumerReference=name:z,resource:z,uid:z
ResourceClaimSpec=devices:s ResourceClaimTemplate=metadata:s,spec:s
ResourceClaimTemplateSpec=metadata:s,spec:s ResourcePool=generation:z,name:z,resourceSliceCount:z
ResourceSlice=metadata:s,spec:s ResourceSliceSpec=driver:z,pool:s
@io.k8s.api.resource.v1alpha3 DeviceTaint=effect:z,key:z DeviceTaintRule=metadata:s,spec:s,status:s
DeviceTaintRuleSpec=taint:s PoolStatus=generation:z ResourcePoolStatusRequest=metadata:s,spec:s
ResourcePoolStatusRequestSpec=driver:z
@io.k8s.api.resource.v1beta1 AllocatedDeviceStatus=conditions:n,device:z,driver:z,pool:z
AllocationResult=devices:s CELDeviceSelector=expression:z Counter=value:z CounterSet=name:z
Device=name:z DeviceAllocationConfiguration=source:z DeviceCapacity=value:z DeviceClaim=requests:n
DeviceClass=metadata:s,spec:s DeviceCounterConsumption=counterSet:z
DeviceRequest=deviceClassName:z,name:z DeviceRequestAllocationResult=device:z,driver:z,pool:z,request:z
DeviceSubRequest=deviceClassName:z,name:z DeviceTaint=effect:z,key:z
OpaqueDeviceConfiguration=driver:z,parameters:n ResourceClaim=metadata:s,spec:s,status:s
ResourceClaimConsumerReference=name:z,resource:z,uid:z ResourceClaimSpec=devices:s
ResourceClaimTemplate=metadata:s,spec:s ResourceClaimTemplateSpec=metadata:s,spec:s
ResourcePool=generation:z,name:z,resourceSliceCount:z ResourceSlice=metadata:s,spec:s
ResourceSliceSpec=driver:z,pool:s
@io.k8s.api.resource.v1beta2 AllocatedDeviceStatus=conditions:n,device:z,driver:z,pool:z
AllocationResult=devices:s CELDeviceSelector=expression:z Counter=value:z CounterSet=name:z
Device=name:z DeviceAllocationConfiguration=source:z DeviceCapacity=value:z DeviceClaim=requests:n
DeviceClass=metadata:s,spec:s DeviceCounterConsumption=counterSet:z DeviceRequest=name:z
DeviceRequestAllocationResult=device:z,driver:z,pool:z,request:z
DeviceSubRequest=deviceClassName:z,name:z DeviceTaint=effect:z,key:z
DeviceTaintRule=metadata:s,spec:s,status:s DeviceTaintRuleSpec=taint:s
ExactDeviceRequest=deviceClassName:z OpaqueDeviceConfiguration=driver:z,parameters:n
ResourceClaim=metadata:s,spec:s,status:s ResourceClaimConsumerReference=name:z,resource:z,uid:z
ResourceClaimSpec=devices:s ResourceClaimTemplate=metadata:s,spec:s
ResourceClaimTemplateSpec=metadata:s,spec:s ResourcePool=generation:z,name:z,resourceSliceCount:z
ResourceSlice=metadata:s,spec:s ResourceSliceSpec=driver:z,pool:s
@io.k8s.api.scheduling.v1 PriorityClass=metadata:s,value:z
@io.k8s.api.scheduling.v1alpha3 CompositeGangSchedulingPolicy=minGroupCount:z
CompositePodGroup=metadata:s,spec:s,status:s CompositePodGroupSpec=schedulingPolicy:s
CompositePodGroupTemplate=name:z,schedulingPolicy:s GangSchedulingPolicy=minCount:z
PodGroup=metadata:s,spec:s,status:s PodGroupResourceClaim=name:z PodGroupResourceClaimStatus=name:z
PodGroupSpec=schedulingPolicy:s PodGroupTemplate=name:z,schedulingPolicy:s TopologyConstraint=key:z
TypedLocalObjectReference=kind:z,name:z Workload=metadata:s,spec:s WorkloadPodGroupResourceClaim=name:z
WorkloadReference=templateName:z,workloadName:z WorkloadSpec=podGroupTemplates:n
@io.k8s.api.scheduling.v1beta1 CompositeGangSchedulingPolicy=minGroupCount:z
CompositePodGroupTemplate=name:z,schedulingPolicy:s GangSchedulingPolicy=minCount:z
PodGroup=metadata:s,spec:s,status:s PodGroupResourceClaim=name:z PodGroupResourceClaimStatus=name:z
PodGroupSpec=schedulingPolicy:s PodGroupTemplate=name:z,schedulingPolicy:s TopologyConstraint=key:z
TypedLocalObjectReference=kind:z,name:z Workload=metadata:s,spec:s
WorkloadReference=templateName:z,workloadName:z WorkloadSpec=podGroupTemplates:n
@io.k8s.api.storage.v1 CSIDriver=metadata:s,spec:s CSINode=metadata:s,spec:s,status:s
CSINodeDriver=name:z,nodeID:z,topologyKeys:n CSINodeSpec=drivers:n
CSIStorageCapacity=metadata:s,storageClassName:z StorageClass=metadata:s,provisioner:z
StorageHealth=name:z StorageHealthCondition=lastTransitionTime:n,reason:z,status:z
TokenRequest=audience:z VolumeAttachment=metadata:s,spec:s,status:s
VolumeAttachmentSpec=attacher:z,nodeName:z,source:s VolumeAttachmentStatus=attached:z
VolumeAttributesClass=driverName:z,metadata:s VolumeError=time:n
@io.k8s.api.storagemigration.v1 StorageVersionMigration=metadata:s,spec:s,status:s
StorageVersionMigrationSpec=resource:s
@io.k8s.api.storagemigration.v1beta1 StorageVersionMigration=metadata:s,spec:s,status:s
StorageVersionMigrationSpec=resource:s
@io.k8s.apimachinery.pkg.apis.meta.v1 APIGroup=name:z,preferredVersion:s,versions:n
APIGroupList=groups:n APIResource=kind:z,name:z,namespaced:z,singularName:z
APIResourceList=groupVersion:z,resources:n APIVersions=serverAddressByClientCIDRs:n,versions:n
Condition=lastTransitionTime:n,message:z,reason:z,status:z,type:z
FieldSelectorRequirement=key:z,operator:z GroupResource=group:z,resource:z
GroupVersionForDiscovery=groupVersion:z,version:z LabelSelectorRequirement=key:z,operator:z
ObjectMeta=creationTimestamp:n OwnerReference=apiVersion:z,kind:z,name:z,uid:z
ServerAddressByClientCIDR=clientCIDR:z,serverAddress:z ShardInfo=selector:z Status=metadata:s
WatchEvent=object:n,type:z
"""


@functools.cache
def _parsed() -> dict[str, tuple[tuple[str, str], ...]]:
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    pkg = ""
    for tok in _TABLE.split():
        if tok.startswith("@"):
            pkg = tok[1:]
            continue
        name, _, fields = tok.partition("=")
        out[f"{pkg}.{name}"] = tuple((f, c) for f, _, c in (x.partition(":") for x in fields.split(",")))
    return out


def _ref(prop: Obj) -> str | None:
    ref = prop.get("$ref")
    if not isinstance(ref, str):
        all_of = prop.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            ref = all_of[0].get("$ref")
    return ref.rsplit("/", 1)[1] if isinstance(ref, str) else None


def _zero_scalar(prop: Obj) -> Any:
    ref = _ref(prop)
    if ref == _INT_OR_STRING:
        return 0
    if ref == _QUANTITY:
        return "0"
    t = prop.get("type")
    types = t if isinstance(t, list) else [t]
    if "integer" in types or "number" in types:
        return 0
    if "boolean" in types:
        return False
    return ""


def _props(definitions: dict[str, Obj], name: str) -> Obj:
    d = definitions.get(name)
    p = d.get("properties") if isinstance(d, dict) else None
    return p if isinstance(p, dict) else {}


def zero_object(name: str, definitions: dict[str, Obj]) -> Obj:
    """The Go zero value of definition ``name`` as its JSON (``{}`` for types not in the table)."""
    out: Obj = {}
    props = _props(definitions, name)
    for field, code in _parsed().get(name, ()):
        prop = props.get(field, {})
        if code == "s":
            ref = _ref(prop)
            out[field] = zero_object(ref, definitions) if ref else {}
        elif code == "n":
            out[field] = None
        else:
            out[field] = _zero_scalar(prop)
    return out


def key_default(name: str | None, field: str, definitions: dict[str, Obj]) -> Any:
    """The OpenAPI default upstream publishes for ``field`` of definition ``name`` (None when it has none)."""
    if name is None:
        return None
    if (name, field) in _KEY_DEFAULTS:
        return _KEY_DEFAULTS[(name, field)]
    for f, code in _parsed().get(name, ()):
        if f == field:
            return _zero_scalar(_props(definitions, name).get(f, {})) if code == "z" else None
    return None


def overlay(value: Any, name: str | None, definitions: dict[str, Obj]) -> Any:
    """``value`` (of definition ``name``) with every Go zero-value field it lacks filled in, recursively.

    The input is not modified; unchanged subtrees are shared with it. Unknown definitions pass through.
    """
    if name is None or not isinstance(value, dict):
        return value
    props = _props(definitions, name)
    out = dict(value)
    for field, code in _parsed().get(name, ()):
        if field not in out:
            prop = props.get(field, {})
            if code == "s":
                ref = _ref(prop)
                out[field] = zero_object(ref, definitions) if ref else {}
            else:
                out[field] = None if code == "n" else _zero_scalar(prop)
    for field, v in out.items():
        prop = props.get(field)
        if not isinstance(prop, dict) or v is None:
            continue
        ref = _ref(prop)
        if ref is not None:
            if isinstance(v, dict):
                out[field] = overlay(v, ref, definitions)
            continue
        items, extra = prop.get("items"), prop.get("additionalProperties")
        if isinstance(v, list) and isinstance(items, dict) and (iref := _ref(items)):
            out[field] = [overlay(x, iref, definitions) for x in v]
        elif isinstance(v, dict) and isinstance(extra, dict) and (eref := _ref(extra)):
            out[field] = {k: overlay(x, eref, definitions) for k, x in v.items()}
    return out


def _fill_zero(out: Obj, field: str, code: str, prop: Obj, definitions: dict[str, Obj]) -> None:
    if code == "s":
        ref = _ref(prop)
        out[field] = zero_object(ref, definitions) if ref else {}
    else:
        out[field] = None if code == "n" else _zero_scalar(prop)


def overlay_pair(a: Any, b: Any, name: str | None, definitions: dict[str, Obj]) -> tuple[Any, Any]:
    """``(overlay(a), overlay(b))`` for a comparison, less what both would get alike: a zero-value field
    absent from both sides stays absent (equal on both sides, it can show in no comparison). List items
    are overlaid one by one, as :func:`overlay` does."""
    if name is None or not isinstance(a, dict) or not isinstance(b, dict):
        return overlay(a, name, definitions), overlay(b, name, definitions)
    props = _props(definitions, name)
    oa, ob = dict(a), dict(b)
    for field, code in _parsed().get(name, ()):
        in_a, in_b = field in oa, field in ob
        if in_a != in_b:
            _fill_zero(ob if in_a else oa, field, code, props.get(field, {}), definitions)
    for field in {**oa, **ob}:
        prop = props.get(field)
        if not isinstance(prop, dict):
            continue
        va, vb = oa.get(field), ob.get(field)
        ref = _ref(prop)
        if ref is not None:
            if isinstance(va, dict) and isinstance(vb, dict):
                oa[field], ob[field] = overlay_pair(va, vb, ref, definitions)
            else:
                for side, v in ((oa, va), (ob, vb)):
                    if isinstance(v, dict):
                        side[field] = overlay(v, ref, definitions)
            continue
        items, extra = prop.get("items"), prop.get("additionalProperties")
        if isinstance(items, dict) and (iref := _ref(items)):
            for side, v in ((oa, va), (ob, vb)):
                if isinstance(v, list):
                    side[field] = [overlay(x, iref, definitions) for x in v]
        elif isinstance(extra, dict) and (eref := _ref(extra)):
            if isinstance(va, dict) and isinstance(vb, dict):
                ma: Obj = {}
                mb: Obj = {}
                for k in {**va, **vb}:
                    if k in va and k in vb:
                        ma[k], mb[k] = overlay_pair(va[k], vb[k], eref, definitions)
                    elif k in va:
                        ma[k] = overlay(va[k], eref, definitions)
                    else:
                        mb[k] = overlay(vb[k], eref, definitions)
                oa[field], ob[field] = ({k: ma[k] for k in va}, {k: mb[k] for k in vb})
            else:
                for side, v in ((oa, va), (ob, vb)):
                    if isinstance(v, dict):
                        side[field] = {k: overlay(x, eref, definitions) for k, x in v.items()}
    return oa, ob
