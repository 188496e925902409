"""Every component serves Prometheus /metrics."""

from __future__ import annotations

import re

import httpx

from tests.cluster import ComponentProcess, ServerProcess, wait_for


def scrape(component: ComponentProcess, needle: str) -> str:
    port = wait_for(lambda: (m := re.search(r"127\.0\.0\.1:(\d+)/metrics", component.log())) and m.group(1),
                    timeout=30, message=f"{component.command}'s metrics address")
    return wait_for(lambda: (t := httpx.get(f"http://127.0.0.1:{port}/metrics").text) and needle in t and t,
                    timeout=30, message=f"{needle} in {component.command}'s metrics")


def test_scheduler_and_kubelet_metrics() -> None:
    apiserver = ServerProcess().start()  # its own server: no pending pods left by other tests
    kubelet = ComponentProcess(apiserver, "kubelet", "--node-name", "metrics-node", "--runtime", "simulated",
                               "--data-dir", str(apiserver.data_dir / "kubelet-metrics"), log_name="kubelet-m").start()
    scheduler = ComponentProcess(apiserver, "scheduler", "--leader-elect", "false", log_name="sched-m").start()
    try:
        httpx.post(f"{apiserver.url}/api/v1/namespaces/default/pods", json={
            "metadata": {"name": "metrics-pod"},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": "metrics-node"},
                     "containers": [{"name": "c", "image": "busybox"}]}})
        text = scrape(scheduler, 'scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}')
        assert "# TYPE scheduler_schedule_attempts_total counter" in text
        text = scrape(kubelet, "kubelet_running_pods 1.0")
        assert "# TYPE kubelet_running_pods gauge" in text
    finally:
        scheduler.stop()
        kubelet.stop()
        apiserver.stop()
