from __future__ import annotations

from typing import Any

import orjson
import pytest

from apiserver import discovery
from apiserver.kinds import Registry, ResourceInfo, builtin


@pytest.fixture(scope="module")
def reg() -> Registry:
    return builtin()


def _entry(doc: dict[str, Any] | None, name: str) -> dict[str, Any]:
    assert doc is not None
    return next(r for r in doc["resources"] if r["name"] == name)


def test_table_matches_kubectl_api_resources(reg: Registry) -> None:
    # what `kubectl api-resources` lists against a 1.37.0 cluster
    assert len(list(reg)) == 72
    assert len(reg.groups()) == 21
    names = {(i.group, i.version, i.plural) for i in reg}
    for gvr in [("", "v1", "bindings"), ("certificates.k8s.io", "v1", "clustertrustbundles"),
                ("certificates.k8s.io", "v1", "podcertificaterequests"), ("resource.k8s.io", "v1", "devicetaintrules"),
                ("storagemigration.k8s.io", "v1", "storageversionmigrations"), ("networking.k8s.io", "v1", "servicecidrs"),
                ("admissionregistration.k8s.io", "v1", "mutatingadmissionpolicies")]:
        assert gvr in names


def test_group_order_and_preferred_versions(reg: Registry) -> None:
    groups = reg.groups()
    assert groups[:4] == ["apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io"]
    assert groups[-1] == "storagemigration.k8s.io"
    assert groups.index("discovery.k8s.io") < groups.index("resource.k8s.io")  # same priority: by name
    assert reg.versions("autoscaling") == ["v2", "v1"]
    first = list(reg)[0]
    assert (first.group, first.plural) == ("", "bindings")


def test_apps_resource_list(reg: Registry) -> None:
    doc = discovery.api_resource_list(reg, "apps", "v1")
    assert doc is not None
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "apps/v1"
    deploy = _entry(doc, "deployments")
    assert deploy["shortNames"] == ["deploy"]
    assert deploy["categories"] == ["all"]
    assert deploy["singularName"] == "deployment"
    assert deploy["namespaced"] is True
    assert deploy["verbs"] == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    assert deploy["storageVersionHash"] == discovery.storage_version_hash("apps", "v1", "Deployment")
    scale = _entry(doc, "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert scale["verbs"] == ["get", "patch", "update"] and scale["singularName"] == ""
    assert "group" not in _entry(doc, "deployments/status")
    assert [r["name"] for r in doc["resources"]] == sorted(r["name"] for r in doc["resources"])


def test_core_resource_list(reg: Registry) -> None:
    doc = discovery.api_resource_list(reg, "", "v1")
    assert doc is not None and doc["groupVersion"] == "v1"
    assert _entry(doc, "pods")["storageVersionHash"] == "xPOwRZ+Yhw8="
    assert "storageVersionHash" not in _entry(doc, "bindings")
    assert _entry(doc, "bindings")["verbs"] == ["create"]
    assert _entry(doc, "componentstatuses")["verbs"] == ["get", "list"]
    assert "deletecollection" not in _entry(doc, "namespaces")["verbs"]
    eviction = _entry(doc, "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    assert _entry(doc, "pods/exec") == {"name": "pods/exec", "singularName": "", "namespaced": True,
                                        "kind": "PodExecOptions", "verbs": ["create", "get"]}
    assert _entry(doc, "nodes/proxy")["verbs"] == ["create", "delete", "get", "patch", "update"]
    token = _entry(doc, "serviceaccounts/token")
    assert (token["group"], token["kind"], token["verbs"]) == ("authentication.k8s.io", "TokenRequest", ["create"])
    assert _entry(doc, "namespaces/finalize")["verbs"] == ["update"]


def test_hpa_hash_is_the_storage_version(reg: Registry) -> None:
    v1 = _entry(discovery.api_resource_list(reg, "autoscaling", "v1"), "horizontalpodautoscalers")
    v2 = _entry(discovery.api_resource_list(reg, "autoscaling", "v2"), "horizontalpodautoscalers")
    assert v1["storageVersionHash"] == v2["storageVersionHash"]
    assert v1["storageVersionHash"] == discovery.storage_version_hash("autoscaling", "v2", "HorizontalPodAutoscaler")
    events = _entry(discovery.api_resource_list(reg, "events.k8s.io", "v1"), "events")
    assert events["storageVersionHash"] == _entry(discovery.api_resource_list(reg, "", "v1"), "events")[
        "storageVersionHash"]


def test_unknown_group_version(reg: Registry) -> None:
    assert discovery.api_resource_list(reg, "apps", "v1beta1") is None
    assert discovery.api_group(reg, "nope.example.com") is None


def test_api_group_and_list(reg: Registry) -> None:
    group = discovery.api_group(reg, "autoscaling")
    assert group == {
        "kind": "APIGroup", "apiVersion": "v1", "name": "autoscaling",
        "versions": [{"groupVersion": "autoscaling/v2", "version": "v2"},
                     {"groupVersion": "autoscaling/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"},
    }
    groups = discovery.api_group_list(reg)
    assert groups["kind"] == "APIGroupList"
    assert groups["groups"][0]["name"] == "apiregistration.k8s.io"
    assert discovery.api_versions("10.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}],
    }


def test_aggregated_discovery_shape(reg: Registry) -> None:
    doc = discovery.aggregated_discovery(reg, legacy=False)
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    items = {i["metadata"]["name"]: i for i in doc["items"]}
    assert list(items) == reg.groups()
    assert [v["version"] for v in items["autoscaling"]["versions"]] == ["v2", "v1"]
    apps = items["apps"]["versions"][0]
    assert apps["freshness"] == "Current"
    deploy = next(r for r in apps["resources"] if r["resource"] == "deployments")
    assert deploy["scope"] == "Namespaced" and deploy["singularResource"] == "deployment"
    assert deploy["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    assert deploy["shortNames"] == ["deploy"] and deploy["categories"] == ["all"]
    assert deploy["subresources"] == [
        {"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
         "verbs": ["get", "patch", "update"]},
        {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Deployment"},
         "verbs": ["get", "patch", "update"]},
    ]
    crds = next(r for r in items["apiextensions.k8s.io"]["versions"][0]["resources"])
    assert crds["scope"] == "Cluster" and crds["shortNames"] == ["crd", "crds"]


def test_aggregated_legacy(reg: Registry) -> None:
    doc = discovery.aggregated_discovery(reg, legacy=True, version="v2beta1")
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    [core] = doc["items"]
    assert core["metadata"] == {}
    assert [v["version"] for v in core["versions"]] == ["v1"]
    pods = next(r for r in core["versions"][0]["resources"] if r["resource"] == "pods")
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["eviction"]["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert subs["log"]["verbs"] == ["get"]


def test_cache_follows_registry_revision() -> None:
    reg = Registry([ResourceInfo("example.com", "v1", "widgets", "Widget", True)])
    before = discovery.aggregated_discovery(reg, legacy=False)
    assert discovery.aggregated_discovery(reg, legacy=False) is before
    reg.add(ResourceInfo("example.com", "v2", "widgets", "Widget", True))
    after = discovery.aggregated_discovery(reg, legacy=False)
    assert [v["version"] for v in after["items"][0]["versions"]] == ["v2", "v1"]


def test_version_info() -> None:
    info = discovery.version_info()
    assert (info["major"], info["minor"]) == ("1", "37")
    assert (info["emulationMajor"], info["emulationMinor"]) == ("1", "37")
    assert (info["minCompatibilityMajor"], info["minCompatibilityMinor"]) == ("1", "36")
    assert info["gitVersion"].startswith("v1.37.0")
    for key in ("gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform"):
        assert info[key]
    emulated = discovery.version_info("1.36")
    assert (emulated["minor"], emulated["emulationMinor"], emulated["minCompatibilityMinor"]) == ("37", "36", "35")


def test_etag() -> None:
    body = orjson.dumps({"a": 1})
    tag = discovery.etag(body)
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 130
    assert tag == discovery.etag(body) != discovery.etag(b"{}")
