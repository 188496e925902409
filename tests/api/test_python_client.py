"""Acceptance with the official `kubernetes` client against every storage backend."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.cluster import ServerProcess


@pytest.fixture
def core(any_apiserver: ServerProcess) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(str(any_apiserver.kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = "t-" + uuid.uuid4().hex[:8]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def cm(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels or None), data={"k": "v"})


def test_configmap_crud(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, cm("a", app="x"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    got = core.read_namespaced_config_map("a", ns)
    assert got.data == {"k": "v"} and got.metadata.labels == {"app": "x"}
    got.data["k"] = "w"
    replaced = core.replace_namespaced_config_map("a", ns, got)
    assert replaced.data == {"k": "w"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    status = core.delete_namespaced_config_map("a", ns)
    assert status["status"] == "Success" and status["details"]["name"] == "a"
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("a", ns)
    assert e.value.status == 404


def test_stale_replace_is_conflict(core: client.CoreV1Api, ns: str) -> None:
    first = core.create_namespaced_config_map(ns, cm("a"))
    first.data = {"k": "1"}
    core.replace_namespaced_config_map("a", ns, first)
    first.data = {"k": "2"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("a", ns, first)
    assert e.value.status == 409
    assert '"reason":"Conflict"' in e.value.body.replace(" ", "")


def test_create_existing_is_already_exists(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, cm("a"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, cm("a"))
    assert e.value.status == 409 and "AlreadyExists" in e.value.body


def test_paging_1000_with_selector_sees_each_once(core: client.CoreV1Api, ns: str) -> None:
    for i in range(1000):
        core.create_namespaced_config_map(ns, cm(f"cm-{i:04}", page="yes" if i % 2 == 0 else "no"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        res = core.list_namespaced_config_map(ns, label_selector="page in (yes)", limit=70, _continue=token)
        seen += [item.metadata.name for item in res.items]
        pages += 1
        # concurrent writes between pages must not show up in this consistent list
        core.create_namespaced_config_map(ns, cm(f"late-{pages}", page="yes"))
        token = res.metadata._continue
        if not token:
            break
    assert len(seen) == 500 == len(set(seen))
    assert seen == sorted(seen)
    assert pages == 8


def test_watch_from_resource_version(core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    events: list[tuple[str, str, str]] = []

    def run() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10):
            events.append((ev["type"], ev["object"].metadata.name, ev["object"].data.get("k", "")))
            if len(events) == 3:
                w.stop()

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    obj = core.create_namespaced_config_map(ns, cm("w"))
    obj.data = {"k": "changed"}
    core.replace_namespaced_config_map("w", ns, obj)
    core.delete_namespaced_config_map("w", ns)
    t.join(15)
    assert events == [("ADDED", "w", "v"), ("MODIFIED", "w", "changed"), ("DELETED", "w", "changed")]


def test_watch_from_compacted_revision_is_gone(core: client.CoreV1Api, ns: str) -> None:
    old = core.list_namespaced_config_map(ns).metadata.resource_version
    for i in range(3):
        core.create_namespaced_config_map(ns, cm(f"c{i}"))
    # the test servers compact every second (to the revision seen a second before)
    deadline = time.monotonic() + 20
    while True:
        try:
            for _ in watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=old,
                                          timeout_seconds=1):
                pass
        except ApiException as e:
            assert e.status == 410
            break
        assert time.monotonic() < deadline, "the old revision was never compacted"
        core.create_namespaced_config_map(ns, cm("tick-" + uuid.uuid4().hex[:6]))
        time.sleep(0.5)
