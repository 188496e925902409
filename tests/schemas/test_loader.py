"""schemas.loader: the kubernetes-validate definitions, lazily parsed and cached."""

from __future__ import annotations

import time

import pytest

from schemas.loader import SchemaSet, available_versions, load


def test_load_is_cached_and_lazy() -> None:
    ss = load("1.37")
    assert ss is load("v1.37.0") is load()
    assert isinstance(ss, SchemaSet)


def test_definitions_carry_descriptions_and_extensions() -> None:
    defs = load().definitions
    pod = defs["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert "description" in containers


def test_for_kind() -> None:
    ss = load()
    assert ss.for_kind("", "v1", "Pod") == "io.k8s.api.core.v1.Pod"
    assert ss.for_kind("apps", "v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
    assert ss.for_kind("autoscaling", "v2", "HorizontalPodAutoscaler") == \
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"
    assert ss.for_kind("apps", "v1", "Nope") is None
    assert ("batch", "v1", "CronJob") in ss.kinds()


def test_resolve_follows_refs() -> None:
    ss = load()
    spec = ss.definitions["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]
    assert ss.resolve(spec) is ss.definitions["io.k8s.api.apps.v1.DeploymentSpec"]


def test_other_versions() -> None:
    versions = available_versions()
    assert "1.25" in versions and "1.37" in versions
    assert load("1.30").for_kind("", "v1", "Pod") == "io.k8s.api.core.v1.Pod"
    with pytest.raises(ValueError):
        load("1.10")
    with pytest.raises(ValueError):
        load("latest")


def test_loading_is_fast() -> None:
    ss = SchemaSet("1.37", load().path)  # a fresh, unparsed set
    start = time.perf_counter()
    assert len(ss.definitions) > 800
    assert time.perf_counter() - start < 0.5
