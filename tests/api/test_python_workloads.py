"""The Python client against built-in workload kinds: defaulting must satisfy its models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from tests.cluster import ServerProcess


@pytest.fixture
def api(apiserver: ServerProcess) -> Iterator[client.ApiClient]:
    c = config.new_client_from_config(str(apiserver.kubeconfig))
    yield c
    c.close()


def test_minimal_deployment_is_fully_defaulted(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = "py-" + uuid.uuid4().hex[:6]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]))))
    out = apps.create_namespaced_deployment(ns, dep)
    spec = out.spec
    assert spec.replicas == 1 and spec.revision_history_limit == 10 and spec.progress_deadline_seconds == 600
    assert spec.strategy.type == "RollingUpdate"
    assert spec.strategy.rolling_update.max_surge == "25%" and spec.strategy.rolling_update.max_unavailable == "25%"
    pod = spec.template.spec
    assert pod.restart_policy == "Always" and pod.dns_policy == "ClusterFirst"
    assert pod.termination_grace_period_seconds == 30 and pod.scheduler_name == "default-scheduler"
    c = pod.containers[0]
    assert c.image_pull_policy == "Always" and c.termination_message_path == "/dev/termination-log"
    assert c.termination_message_policy == "File"
    assert out.metadata.generation == 1
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 1


def test_list_pods_for_all_namespaces(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    ns = "py-" + uuid.uuid4().hex[:6]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="p"),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))
    created = core.create_namespaced_pod(ns, pod)
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert created.status.phase == "Pending" and created.status.qos_class == "BestEffort"
    assert {t.key for t in created.spec.tolerations} == {"node.kubernetes.io/not-ready",
                                                         "node.kubernetes.io/unreachable"}
    pods = core.list_pod_for_all_namespaces()
    assert any(p.metadata.name == "p" and p.metadata.namespace == ns for p in pods.items)


def test_version_parses(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert info.major == "1" and info.minor == "37"


def test_patch_deployment_with_dict_is_strategic(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = "py-" + uuid.uuid4().hex[:6]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    body = {"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "a", "image": "nginx"}, {"name": "b", "image": "redis"}]}}}}
    apps.create_namespaced_deployment(ns, body)
    patched = apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "b", "image": "redis:7"}]}}}})
    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"a": "nginx", "b": "redis:7"}  # merged by name, not replaced


def test_server_side_apply_with_dynamic_client(api: client.ApiClient) -> None:
    from kubernetes import dynamic

    ns = "py-" + uuid.uuid4().hex[:6]
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    cms = dynamic.DynamicClient(api).resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": ns},
            "data": {"owned": "1"}}
    created = cms.server_side_apply(body=body, name="ssa", namespace=ns, field_manager="tool-a")
    assert created.data.owned == "1"
    managed = created.metadata.managedFields
    assert managed[0].manager == "tool-a" and managed[0].operation == "Apply"
    assert managed[0].fieldsV1.to_dict() == {"f:data": {"f:owned": {}}}
    # another manager changing the same field conflicts
    other = {**body, "data": {"owned": "2"}}
    from kubernetes.dynamic.exceptions import ConflictError

    with pytest.raises(ConflictError) as e:
        cms.server_side_apply(body=other, name="ssa", namespace=ns, field_manager="tool-b")
    assert 'conflict with \\"tool-a\\"' in str(e.value.body)
    typed = client.CoreV1Api(api).read_namespaced_config_map("ssa", ns)
    assert typed.metadata.managed_fields[0].fields_v1 == {"f:data": {"f:owned": {}}}
