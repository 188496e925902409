"""Prometheus metrics of the client-side components (controller-manager, scheduler, kubelet), with
client-go's workqueue metric names, served on 127.0.0.1 by :func:`serve`."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("kplane.metrics")

BUCKETS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10)

depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"])
adds = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name"])
retries = Counter("workqueue_retries_total", "Total number of retries handled by workqueue", ["name"])
queue_duration = Histogram("workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue "
                           "before being requested.", ["name"], buckets=BUCKETS)
work_duration = Histogram("workqueue_work_duration_seconds", "How long in seconds processing an item from "
                          "workqueue takes.", ["name"], buckets=BUCKETS)


schedule_attempts = Counter("scheduler_schedule_attempts_total", "Number of attempts to schedule pods, by the "
                            "result. 'unschedulable' means a pod could not be scheduled, while 'error' means an "
                            "internal scheduler problem.", ["result", "profile"])
kubelet_running_pods = Gauge("kubelet_running_pods", "Number of pods that have a running pod sandbox")


def serve(port: int, address: str = "127.0.0.1") -> int:
    """Serve /metrics on ``address:port`` (0 picks a free port) in a thread; returns the port."""
    server, _ = start_http_server(port, addr=address, registry=REGISTRY)
    bound = int(server.server_port)
    log.info("serving /metrics on %s:%d", address, bound)
    return bound
