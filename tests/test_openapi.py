from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from apiserver import openapi
from apiserver.kinds import Registry, ResourceInfo, builtin

SCHEMAS = "#/components/schemas/"


@pytest.fixture(scope="module")
def reg() -> Registry:
    return builtin()


def _refs(node: Any, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):  # JSONSchemaProps has a *property* named "$ref"
            out.add(ref)
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)
    return out


def _ops(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method != "parameters"]


def _params(doc: dict[str, Any], path: str, op: dict[str, Any]) -> set[str]:
    return {p["name"] for p in doc["paths"][path].get("parameters", []) + op.get("parameters", [])}


def test_deployment_patch_declares_field_validation(reg: Registry) -> None:
    doc = openapi.openapi_v3_doc(reg, "apps", "v1")
    assert doc is not None and doc["openapi"] == "3.0.0"
    path = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    patch = doc["paths"][path]["patch"]
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert {"fieldValidation", "fieldManager", "dryRun", "force", "name", "namespace", "pretty"} <= _params(
        doc, path, patch)
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
        "application/apply-patch+yaml"}
    assert patch["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": SCHEMAS + "io.k8s.api.apps.v1.Deployment"}
    assert patch["tags"] == ["apps_v1"]


def test_every_ref_resolves(reg: Registry) -> None:
    for key in openapi.openapi_v3_paths(reg):
        doc = openapi.openapi_v3_path_doc(reg, key)
        assert doc is not None, key
        schemas = doc["components"]["schemas"]
        for ref in _refs(doc, set()):
            assert ref.startswith(SCHEMAS) and ref[len(SCHEMAS):] in schemas, (key, ref)


def test_operation_ids_and_actions(reg: Registry) -> None:
    doc = openapi.openapi_v3_doc(reg, "", "v1")
    assert doc is not None
    ids = {op["operationId"]: (path, method, op) for path, method, op in _ops(doc)}
    for op_id in ["readCoreV1NamespacedPod", "listCoreV1PodForAllNamespaces", "deleteCoreV1CollectionNamespacedPod",
                  "watchCoreV1NamespacedPodList", "connectCoreV1PostNamespacedPodExec",
                  "connectCoreV1GetNamespacedPodProxyWithPath", "readCoreV1NamespacedPodLog",
                  "createCoreV1NamespacedPodEviction", "replaceCoreV1NamespaceFinalize",
                  "createCoreV1NamespacedServiceAccountToken", "patchCoreV1NamespacedPodResize",
                  "getCoreV1APIResources", "listCoreV1ComponentStatus"]:
        assert op_id in ids, op_id
    assert ids["listCoreV1PodForAllNamespaces"][0] == "/api/v1/pods"
    assert ids["watchCoreV1NamespacedPodList"][2]["x-kubernetes-action"] == "watchlist"
    assert ids["connectCoreV1PostNamespacedPodExec"][2]["x-kubernetes-group-version-kind"]["kind"] == "PodExecOptions"
    evict = ids["createCoreV1NamespacedPodEviction"][2]
    assert evict["x-kubernetes-group-version-kind"] == {"group": "policy", "kind": "Eviction", "version": "v1"}
    assert evict["requestBody"]["content"]["*/*"]["schema"] == {"$ref": SCHEMAS + "io.k8s.api.policy.v1.Eviction"}
    assert "watchCoreV1ComponentStatusList" not in ids  # componentstatuses are not watchable
    actions = {op["x-kubernetes-action"] for _, _, op in _ops(doc) if "x-kubernetes-action" in op}
    assert actions == {"get", "list", "put", "post", "delete", "deletecollection", "patch", "watch", "watchlist",
                       "connect"}


def test_list_and_write_parameters(reg: Registry) -> None:
    doc = openapi.openapi_v3_doc(reg, "", "v1")
    assert doc is not None
    coll = "/api/v1/namespaces/{namespace}/configmaps"
    listing = _params(doc, coll, doc["paths"][coll]["get"])
    assert {"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
            "sendInitialEvents", "timeoutSeconds", "watch", "allowWatchBookmarks"} <= listing
    assert {"dryRun", "fieldManager", "fieldValidation"} <= _params(doc, coll, doc["paths"][coll]["post"])
    item = coll + "/{name}"
    assert {"fieldValidation", "fieldManager", "dryRun"} <= _params(doc, item, doc["paths"][item]["put"])
    assert {"gracePeriodSeconds", "propagationPolicy"} <= _params(doc, item, doc["paths"][item]["delete"])
    # pods answer DELETE with the pod, configmaps with a Status
    pod_delete = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["delete"]
    assert pod_delete["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("v1.Pod")
    assert doc["paths"][item]["delete"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"].endswith("meta.v1.Status")


def test_schemas_keep_patch_metadata(reg: Registry) -> None:
    doc = openapi.openapi_v3_doc(reg, "", "v1")
    assert doc is not None
    schemas = doc["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["description"]
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["type"] == "object"
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert "enum" not in pod["properties"]["kind"] and pod["properties"]["kind"]["type"] == "string"
    assert pod["properties"]["spec"]["allOf"] == [{"$ref": SCHEMAS + "io.k8s.api.core.v1.PodSpec"}]
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert "io.k8s.api.apps.v1.Deployment" not in schemas  # only what core/v1 reaches


def test_index(reg: Registry) -> None:
    index = openapi.openapi_v3_index(reg)
    paths = index["paths"]
    for key in ["api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/autoscaling/v2", "version", "logs",
                ".well-known/openid-configuration", "openid/v1/jwks"]:
        assert key in paths, key
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    body = openapi.openapi_v3_bytes(reg, "apis/apps/v1")
    assert body is not None
    assert url == "/openapi/v3/apis/apps/v1?hash=" + hashlib.sha512(body).hexdigest().upper()
    assert orjson.loads(body) == openapi.openapi_v3_doc(reg, "apps", "v1")
    assert openapi.openapi_v3_path_doc(reg, "apis/apps/v1beta1") is None
    assert openapi.openapi_v3_doc(reg, "nope", "v1") is None
    group = openapi.openapi_v3_path_doc(reg, "apis/apps")
    assert group is not None and group["paths"]["/apis/apps/"]["get"]["operationId"] == "getAppsAPIGroup"


def test_custom_resource_without_strategic_merge() -> None:
    schema = orjson.dumps({"type": "object", "properties": {"spec": {"type": "object"}}}).decode()
    reg = Registry([ResourceInfo("stable.example.com", "v1", "crontabs", "CronTab", True,
                                 extra={"openAPIV3Schema": schema})])
    doc = openapi.openapi_v3_doc(reg, "stable.example.com", "v1")
    assert doc is not None
    patch = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert patch["operationId"] == "patchStableExampleComV1NamespacedCronTab"
    assert patch["tags"] == ["stableExampleCom_v1"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    crontab = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert crontab["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    assert "com.example.stable.v1.CronTabList" in doc["components"]["schemas"]


def test_swagger_v2(reg: Registry) -> None:
    doc = openapi.openapi_v2(reg)
    assert doc["swagger"] == "2.0"
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    body = next(p for p in patch["parameters"] if p["in"] == "body")
    assert body["schema"] == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    for ref in _refs(doc, set()):
        assert ref.startswith("#/definitions/") and ref[len("#/definitions/"):] in doc["definitions"], ref
    spec = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]
    assert spec["$ref"] == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec" and spec["description"]
    assert "/version/" in doc["paths"] and "/api/v1/" in doc["paths"]
