"""Pure pieces of the kubelet: phases, status patches, back-off text, simulated commands, CRI logs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from kubelet.logs import LogOptions, LogWriter, read_log, rfc3339nano
from kubelet.podstatus import ContainerRecord, phase, pod_status, status_patch
from kubelet.podworker import go_duration, should_restart
from kubelet.runtime import ContainerInfo, normalize_image
from kubelet.runtime.simulated import simulate

ROOT = Path(__file__).resolve().parents[2]


def info(name: str, *, code: int | None = None) -> ContainerInfo:
    i = ContainerInfo(id=f"x://{name}", pod_uid="u", name=name, attempt=0, image="img", image_id="id",
                      log_path=Path("/dev/null"), state="running", started_at=1.0)
    if code is not None:
        i.finish(code)
    return i


def rec(name: str, code: int | None = None, *, running: bool = False) -> ContainerRecord:
    r = ContainerRecord(name, "img")
    if running or code is not None:
        r.current = info(name, code=code)
    return r


POD = {"metadata": {"name": "p", "namespace": "d", "uid": "u", "generation": 1}, "spec": {"restartPolicy": "Never"}}


@pytest.mark.parametrize(("policy", "containers", "terminal", "expected"), [
    ("Never", [rec("a", running=True)], False, "Running"),
    ("Never", [rec("a", 0), rec("b", running=True)], False, "Running"),
    ("Never", [rec("a", 0), rec("b", 0)], False, "Succeeded"),
    ("Never", [rec("a", 0), rec("b", 1)], False, "Failed"),
    ("OnFailure", [rec("a", 1)], False, "Running"),
    ("Always", [rec("a", 0)], False, "Running"),
    ("Always", [rec("a", 143)], True, "Failed"),
    ("Always", [rec("a", 0)], True, "Succeeded"),
    ("Always", [rec("a")], False, "Pending"),
    ("Always", [rec("a"), rec("b", running=True)], False, "Pending"),
])
def test_phase(policy: str, containers: list[ContainerRecord], terminal: bool, expected: str) -> None:
    pod = {**POD, "spec": {"restartPolicy": policy}}
    assert phase(pod, [], containers, init_done=True, terminal=terminal) == expected


def test_terminal_phase_sticks_and_conditions_keep_transition_times() -> None:
    old = {"phase": "Succeeded", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
        {"type": "example.com/gate", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    status = pod_status(POD, init=[], regular=[rec("a", running=True)], init_done=True, sandbox_ready=True,
                        terminal=False, host_ip="127.0.0.1", pod_ip="10.244.0.2", start_time="", old=old)
    assert status["phase"] == "Succeeded"
    types = [c["type"] for c in status["conditions"]]
    assert types == ["example.com/gate", "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                     "PodScheduled"]
    scheduled = status["conditions"][-1]
    assert scheduled["lastTransitionTime"] == "2020-01-01T00:00:00Z" and scheduled["observedGeneration"] == 1


def test_status_patch_nulls_dropped_keys_only() -> None:
    old = {"phase": "Failed", "reason": "X", "nominatedNodeName": "n"}
    assert status_patch(old, {"phase": "Running"}) == {"phase": "Running", "reason": None}
    assert status_patch({"phase": "Running"}, {"phase": "Running"}) is None


def test_backoff_text_and_restart_policy() -> None:
    assert [go_duration(s) for s in (10, 20, 40, 80, 160, 300)] == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s"]
    assert should_restart("Always", 0) and should_restart("OnFailure", 1)
    assert not should_restart("OnFailure", 0) and not should_restart("Never", 1)


def test_normalize_image() -> None:
    assert normalize_image("busybox") == "docker.io/library/busybox:latest"
    assert normalize_image("bitnami/nginx:1.2") == "docker.io/bitnami/nginx:1.2"
    assert normalize_image("registry.k8s.io/pause:3.10") == "registry.k8s.io/pause:3.10"
    assert normalize_image("localhost:5000/app") == "localhost:5000/app:latest"


@pytest.mark.parametrize(("argv", "expected"), [
    (["true"], (0, 0.0, [])),
    (["/bin/false"], (1, 0.0, [])),
    (["sleep", "2"], (0, 2.0, [])),
    (["sh", "-c", "echo 'a b'; sleep 1; exit 4"], (4, 1.0, ["a b"])),
    (["sh", "-c", "while true; do echo hi; sleep 1; done"], (None, 0.0, ["hi"])),
    (["nginx", "-g", "daemon off;"], (None, 0.0, [])),
    ([], (None, 0.0, [])),
])
def test_simulated_commands(argv: list[str], expected: tuple[int | None, float, list[str]]) -> None:
    assert simulate(argv) == expected


def test_cri_logs_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    w = LogWriter(path)
    w.write("stdout", b"one\n")
    w.write("stderr", b"par")
    w.write("stderr", b"tial\n")
    w.write("stdout", b"three\n")
    w.close()
    lines = path.read_bytes().splitlines()
    assert lines[1].split(b" ")[1:3] == [b"stderr", b"P"]

    def read(**kw: object) -> bytes:
        async def go() -> bytes:
            return b"".join([c async for c in read_log(path, LogOptions(**kw), running=lambda: False)])  # type: ignore[arg-type]
        return asyncio.run(go())

    assert read() == b"one\npartial\nthree\n"
    assert read(tail_lines=1) == b"three\n"
    assert read(limit_bytes=5) == b"one\np"
    stamped = read(timestamps=True).splitlines()
    assert stamped[0].endswith(b"Z one") and len(stamped) == 3
    assert read(since=4102444800.0) == b""  # 2100: nothing that new


def test_rfc3339nano_trims_zeros() -> None:
    assert rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_mypy_strict_and_ruff_on_the_kubelet() -> None:
    r = subprocess.run([sys.executable, "-m", "mypy", "kubelet"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "kubelet", "tests/kubelet"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
