"""Custom resources through the Python clients, and a kopf operator reconciling one."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic, watch

from tests.cluster import ServerProcess

CRD_FILE = Path(__file__).resolve().parents[2] / "conformance" / "manifests" / "crontab-crd.yaml"

OPERATOR = '''
import kopf

@kopf.on.create("{group}", "v1", "crontabs")
def created(spec, patch, **_):
    patch.status["replicas"] = spec.get("replicas", 0)
    patch.status["labelSelector"] = "handled=yes"
'''


@pytest.fixture
def crd_group(apiserver: ServerProcess) -> Iterator[tuple[client.ApiClient, str]]:
    api = config.new_client_from_config(str(apiserver.kubeconfig))
    group = f"s{uuid.uuid4().hex[:6]}.example.com"
    crd = yaml.safe_load(CRD_FILE.read_text().replace("stable.example.com", group))
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 10
    while True:
        got = ext.read_custom_resource_definition(f"crontabs.{group}")
        if any(c.type == "Established" and c.status == "True" for c in got.status.conditions or []):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield api, group
    api.close()


def crontab(group: str, name: str, replicas: int = 1) -> dict:
    return {"apiVersion": f"{group}/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": {"cronSpec": "* * * * */5", "image": "img", "replicas": replicas}}


def test_custom_objects_api(crd_group: tuple[client.ApiClient, str]) -> None:
    api, group = crd_group
    co = client.CustomObjectsApi(api)
    created = co.create_namespaced_custom_object(group, "v1", "default", "crontabs", crontab(group, "a"))
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    listed = co.list_namespaced_custom_object(group, "v1", "default", "crontabs")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    patched = co.patch_namespaced_custom_object(group, "v1", "default", "crontabs", "a",
                                                {"spec": {"image": "img2"}})
    assert patched["spec"]["image"] == "img2" and patched["metadata"]["generation"] == 2
    status = co.patch_namespaced_custom_object_status(group, "v1", "default", "crontabs", "a",
                                                      {"status": {"replicas": 5}})
    assert status["status"]["replicas"] == 5 and status["metadata"]["generation"] == 2
    rv = listed["metadata"]["resourceVersion"]
    events: list[str] = []

    def run() -> None:
        w = watch.Watch()
        for ev in w.stream(co.list_namespaced_custom_object, group, "v1", "default", "crontabs",
                           resource_version=rv, timeout_seconds=10):
            events.append(ev["type"])
            if len(events) == 3:
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    co.delete_namespaced_custom_object(group, "v1", "default", "crontabs", "a")
    t.join(15)
    assert events == ["MODIFIED", "MODIFIED", "DELETED"]


def test_dynamic_client(crd_group: tuple[client.ApiClient, str]) -> None:
    api, group = crd_group
    dc = dynamic.DynamicClient(api)
    res = dc.resources.get(api_version=f"{group}/v1", kind="CronTab")
    res.create(body=crontab(group, "d"), namespace="default")
    got = res.get(name="d", namespace="default")
    assert got.spec.image == "img"
    items = res.get(namespace="default").items
    assert [i.metadata.name for i in items] == ["d"]
    res.patch(name="d", namespace="default", body={"spec": {"replicas": 2}},
              content_type="application/merge-patch+json")
    assert res.get(name="d", namespace="default").spec.replicas == 2
    res.delete(name="d", namespace="default")


def test_kopf_operator_reconciles(crd_group: tuple[client.ApiClient, str], apiserver: ServerProcess,
                                  tmp_path: Path) -> None:
    api, group = crd_group
    op = tmp_path / "operator.py"
    op.write_text(OPERATOR.format(group=group))
    proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(op)],
                            env={"KUBECONFIG": str(apiserver.kubeconfig), "PATH": "/usr/bin:/bin",
                                 "HOME": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        co = client.CustomObjectsApi(api)
        time.sleep(2)
        co.create_namespaced_custom_object(group, "v1", "default", "crontabs", crontab(group, "k", 4))
        deadline = time.monotonic() + 30
        while True:
            obj = co.get_namespaced_custom_object(group, "v1", "default", "crontabs", "k")
            if (obj.get("status") or {}).get("replicas") == 4:
                break
            assert time.monotonic() < deadline, "kopf never reconciled the object"
            time.sleep(0.2)
        assert "kopf.zalando.org/last-handled-configuration" in obj["metadata"]["annotations"]
        assert obj["status"]["labelSelector"] == "handled=yes"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_schema_validation_pruning_and_defaults(crd_group: tuple[client.ApiClient, str]) -> None:
    api, group = crd_group
    co = client.CustomObjectsApi(api)
    bad = crontab(group, "bad")
    bad["spec"]["replicas"] = "three"
    try:
        co.create_namespaced_custom_object(group, "v1", "default", "crontabs", bad)
        raise AssertionError("expected an error")
    except client.exceptions.ApiException as e:
        assert e.status in (400, 422)
        assert "spec.replicas" in e.body and "integer" in e.body
    extra = crontab(group, "extra")
    extra["spec"]["unknown"] = "x"
    try:
        co.create_namespaced_custom_object(group, "v1", "default", "crontabs", extra, field_validation="Strict")
        raise AssertionError("expected strict failure")
    except client.exceptions.ApiException as e:
        assert e.status == 400 and 'unknown field \\"spec.unknown\\"' in e.body
    created = co.create_namespaced_custom_object(group, "v1", "default", "crontabs", extra,
                                                 field_validation="Ignore")
    assert "unknown" not in created["spec"]


def test_versions_deprecation_and_selectable_fields(apiserver: ServerProcess) -> None:
    import httpx

    group = f"v{uuid.uuid4().hex[:6]}.example.com"
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "color": {"type": "string"}, "size": {"type": "integer", "default": 1}}}}}
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"widgets.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [
                        {"name": "v1beta1", "served": True, "storage": False, "deprecated": True,
                         "schema": {"openAPIV3Schema": schema}, "selectableFields": [{"jsonPath": ".spec.color"}]},
                        {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema},
                         "selectableFields": [{"jsonPath": ".spec.color"}]}]}}
    with httpx.Client(base_url=apiserver.url) as h:
        assert h.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd).status_code == 201
        deadline = time.monotonic() + 10
        while h.get(f"/apis/{group}/v1/namespaces/default/widgets").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = h.post(f"/apis/{group}/v1beta1/namespaces/default/widgets",
                   json={"apiVersion": f"{group}/v1beta1", "kind": "Widget", "metadata": {"name": "red"},
                         "spec": {"color": "red"}})
        assert r.status_code == 201
        assert r.headers["warning"] == f'299 - "{group}/v1beta1 Widget is deprecated; use {group}/v1 Widget"'
        assert r.json()["spec"]["size"] == 1  # defaulted from the schema
        h.post(f"/apis/{group}/v1/namespaces/default/widgets",
               json={"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "blue"},
                     "spec": {"color": "blue"}})
        got = h.get(f"/apis/{group}/v1/namespaces/default/widgets/red").json()
        assert got["apiVersion"] == f"{group}/v1"  # conversion None rewrites apiVersion
        old = h.get(f"/apis/{group}/v1beta1/namespaces/default/widgets/blue")
        assert old.json()["apiVersion"] == f"{group}/v1beta1" and "deprecated" in old.headers["warning"]
        sel = h.get(f"/apis/{group}/v1/namespaces/default/widgets", params={"fieldSelector": "spec.color=red"})
        assert [i["metadata"]["name"] for i in sel.json()["items"]] == ["red"]
        bad = h.get(f"/apis/{group}/v1/namespaces/default/widgets", params={"fieldSelector": "spec.size=1"})
        assert bad.status_code == 400
