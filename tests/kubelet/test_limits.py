"""Resource limits of process containers: a cgroup per container (v2, else v1), rlimits without cgroups."""

from __future__ import annotations

from pathlib import Path

from kubelet.cgroups import PIDS_LIMIT, CgroupManager, Limits, limits_of, rlimit_wrap
from tests.cluster import wait_for
from tests.kubelet.conftest import KubeletCluster
from tests.kubelet.util import container, cstatus, phase, pod

HOG = "b = bytearray(300 * 1024 * 1024)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nprint('survived')"

READ_OWN = """
import os
for line in open("/proc/self/cgroup"):
    _, controllers, path = line.strip().split(":", 2)
    for c in ("memory", "cpu", "pids"):
        if c in controllers.split(","):
            print(c, "/sys/fs/cgroup/" + c + path, flush=True)
        elif controllers == "" and c == "memory" and "kplane" in path:
            print("unified", "/sys/fs/cgroup" + path, flush=True)
for line in open("/proc/self/limits"):
    if line.startswith("Max data size"):
        print("data", line.split()[3], flush=True)
import time
time.sleep(1000)
"""


def test_limits_from_the_container_spec() -> None:
    lim = limits_of({"resources": {"limits": {"memory": "64Mi", "cpu": "250m"}, "requests": {"cpu": "1"}}})
    assert lim == Limits(memory=64 * 1024 * 1024, cpu_millis=250, pids=PIDS_LIMIT)
    assert limits_of({"resources": {"limits": {"cpu": "2"}}}).cpu_millis == 2000
    assert limits_of({}).memory is None
    assert rlimit_wrap(["python3"], Limits()) == ["python3"]
    assert rlimit_wrap(["python3", "-c", "x"], Limits(memory=1000))[1:] == ["--data=1000", "--", "python3", "-c", "x"]


def cgroups_enabled(node: str) -> bool:
    """What the kubelet of ``node`` sees (the same directories: creating them again changes nothing)."""
    return CgroupManager(node).enabled


def test_memory_hog_is_oom_killed(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("hog", kl.node, container(
        "hog", "python3", "-c", HOG, image="python:3",
        resources={"limits": {"memory": "64Mi"}}), restart="Never"))
    p = kl.api.wait_pod(ns, "hog", lambda p: phase(p) == "Failed", timeout=60)
    term = cstatus(p)["state"]["terminated"]
    if cgroups_enabled(kl.node):  # root with a writable hierarchy (this machine, CI)
        assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137)
    else:  # RLIMIT_DATA: the allocation fails inside python
        assert (term["reason"], term["exitCode"]) == ("Error", 1)
    log = kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/hog/log").text
    assert "survived" not in log


def test_container_cgroup_carries_the_limits_and_goes_away(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("lim", kl.node, container(
        "c", "python3", "-c", READ_OWN, image="python:3",
        resources={"limits": {"memory": "100Mi", "cpu": "250m"}})))
    kl.api.wait_pod(ns, "lim", lambda p: phase(p) == "Running")

    def paths() -> dict[str, Path] | None:
        text = kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/lim/log").text
        got = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        return {k: Path(v) for k, v in got.items()} if "data" in got else None

    dirs = wait_for(paths, message="the container's cgroups and rlimits")
    data_limit = str(dirs.pop("data"))
    if not cgroups_enabled(kl.node):  # not root, or no writable hierarchy: RLIMIT_DATA
        assert data_limit == str(100 * 1024 * 1024)
        return
    assert data_limit == "unlimited"
    if "unified" in dirs and "memory" not in dirs:  # cgroup v2
        d = dirs["unified"]
        assert f"kplane/{kl.node}/" in str(d)
        assert (d / "memory.max").read_text().strip() == str(100 * 1024 * 1024)
        assert (d / "cpu.max").read_text().split() == ["25000", "100000"]
        assert (d / "pids.max").read_text().strip() == str(PIDS_LIMIT)
    else:
        assert f"kplane/{kl.node}/" in str(dirs["memory"])
        assert (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(100 * 1024 * 1024)
        assert (dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "25000"
        assert (dirs["cpu"] / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (dirs["pids"] / "pids.max").read_text().strip() == str(PIDS_LIMIT)
    kl.api.delete(f"/api/v1/namespaces/{ns}/pods/lim", gracePeriodSeconds=0)
    kl.api.wait_gone(ns, "lim")
    wait_for(lambda: not any(d.exists() for d in dirs.values()), timeout=10, message="cgroups removed")
