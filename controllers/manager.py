"""`kplane controller-manager`: the controllers of kube-controller-manager in one process, sharing one set of
informers, acting only while holding the `kube-controller-manager` Lease."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import uuid
from typing import Any

from .client import Client
from .leaderelection import LeaderElector
from .runtime import Controller, InformerFactory

log = logging.getLogger("kplane.controller-manager")

#: name -> (module, class); every controller is on by default, as upstream's "*"
CONTROLLERS: dict[str, tuple[str, str]] = {
    "namespace": ("controllers.namespace", "NamespaceController"),
    "garbagecollector": ("controllers.garbagecollector", "GarbageCollector"),
    "serviceaccount": ("controllers.serviceaccount", "ServiceAccountController"),
    "root-ca-cert-publisher": ("controllers.serviceaccount", "RootCACertPublisher"),
    "deployment": ("controllers.deployment", "DeploymentController"),
    "replicaset": ("controllers.replicaset", "ReplicaSetController"),
    "replicationcontroller": ("controllers.replicaset", "ReplicationControllerController"),
    "endpoints": ("controllers.endpoints", "EndpointsController"),
    "endpointslice": ("controllers.endpoints", "EndpointSliceController"),
    "endpointslicemirroring": ("controllers.endpointslicemirroring", "EndpointSliceMirroringController"),
    "nodelifecycle": ("controllers.nodelifecycle", "NodeLifecycleController"),
    "job": ("controllers.job", "JobController"),
    "ttl-after-finished": ("controllers.ttlafterfinished", "TTLAfterFinishedController"),
    "cronjob": ("controllers.cronjob", "CronJobController"),
    "daemonset": ("controllers.daemonset", "DaemonSetController"),
    "statefulset": ("controllers.statefulset", "StatefulSetController"),
}


def build(client: Client, informers: InformerFactory, names: list[str] | None = None,
          options: dict[str, Any] | None = None) -> list[Controller]:
    out: list[Controller] = []
    for name, (module, cls) in CONTROLLERS.items():
        if names and name not in names:
            continue
        ctrl_cls = getattr(importlib.import_module(module), cls)
        out.append(ctrl_cls(client, informers, options))
    return out


async def run_controllers(client: Client, names: list[str] | None = None,
                          options: dict[str, Any] | None = None) -> None:
    informers = InformerFactory(client)
    controllers = build(client, informers, names, options)
    informers.start()
    await informers.wait_synced()
    log.info("informers synced; running %s", ", ".join(c.name for c in controllers))
    try:
        await asyncio.gather(*(c.run() for c in controllers))
    finally:
        await informers.stop()


async def main(kubeconfig: str, *, names: list[str] | None = None, leader_elect: bool = True,
               options: dict[str, Any] | None = None) -> None:
    client = Client.from_kubeconfig(kubeconfig, user_agent="kube-controller-manager/v1.37.0 (kplane)")
    try:
        if not leader_elect:
            await run_controllers(client, names, options)
            return
        identity = f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        elector = LeaderElector(client, name="kube-controller-manager", identity=identity)
        await elector.run(lambda: run_controllers(client, names, options))
    finally:
        await client.close()
