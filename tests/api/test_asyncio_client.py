"""The same acceptance flows with kubernetes-asyncio (which sends watch=True)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.rest import ApiException

from tests.cluster import ServerProcess


async def test_asyncio_client_flows(any_apiserver: ServerProcess) -> None:
    api_client = await config.new_client_from_config(str(any_apiserver.kubeconfig))
    async with api_client:
        core = client.CoreV1Api(api_client)
        ns = "a-" + uuid.uuid4().hex[:8]
        await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a", labels={"x": "y"}), data={"k": "v"})
        created = await core.create_namespaced_config_map(ns, body)
        got = await core.read_namespaced_config_map("a", ns)
        assert got.data == {"k": "v"}
        got.data = {"k": "w"}
        await core.replace_namespaced_config_map("a", ns, got)
        created.data = {"k": "stale"}
        with pytest.raises(ApiException) as e:
            await core.replace_namespaced_config_map("a", ns, created)
        assert e.value.status == 409

        for i in range(120):
            await core.create_namespaced_config_map(
                ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"p{i:03}", labels={"x": "y"})))
        names: list[str] = []
        token = None
        while True:
            res = await core.list_namespaced_config_map(ns, label_selector="x=y", limit=50, _continue=token)
            names += [i.metadata.name for i in res.items]
            token = res.metadata._continue
            if not token:
                break
        assert len(names) == 121 == len(set(names))

        rv = (await core.list_namespaced_config_map(ns)).metadata.resource_version
        seen: list[tuple[str, str]] = []

        async def consume() -> None:
            w = watch.Watch()
            async with w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10) as s:
                async for ev in s:
                    seen.append((ev["type"], ev["object"].metadata.name))
                    if len(seen) == 3:
                        w.stop()

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        obj = await core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w")))
        obj.data = {"a": "b"}
        await core.replace_namespaced_config_map("w", ns, obj)
        await core.delete_namespaced_config_map("w", ns)
        await asyncio.wait_for(task, 15)
        assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
