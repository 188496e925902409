"""The process runtime's image catalog: pulls, ErrImagePull/ImagePullBackOff/ErrImageNeverPull, agnhost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from kubelet.images import (
    AGNHOST,
    MAX_PULL_BACKOFF,
    Catalog,
    PullBackoff,
    container_argv,
    ensure_image,
)
from tests.cluster import wait_for
from tests.kubelet.conftest import KubeletCluster
from tests.kubelet.util import cstatus, phase, pod

NOT_FOUND = ('rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nosuch:latest": '
             'failed to resolve reference "docker.io/library/nosuch:latest": docker.io/library/nosuch:latest: '
             "not found")


def spec(image: str, policy: str = "Always", **extra: Any) -> dict[str, Any]:
    return {"name": "c", "image": image, "imagePullPolicy": policy, **extra}


# --- units -------------------------------------------------------------------------------------------


def test_catalog_resolves_by_repository_and_images_json(tmp_path: Path) -> None:
    cat = Catalog(tmp_path)
    assert cat.lookup("busybox") is not None and cat.lookup("docker.io/library/busybox:1.36") is not None
    assert cat.lookup("python:3.12") is not None and cat.lookup("python:3.12").cmd == ("python3",)  # type: ignore[union-attr]
    assert cat.lookup("registry.k8s.io/pause:3.10") is not None
    agn = cat.lookup("registry.k8s.io/e2e-test-images/agnhost:2.53")
    assert agn is not None and agn.entrypoint == (sys.executable, AGNHOST) and agn.cmd == ("pause",)
    assert cat.lookup("example.com/app:v1") is None and cat.lookup("nosuch") is None
    (tmp_path / "images.json").write_text(json.dumps({"example.com/app:v1": {"cmd": ["sleep", "5"], "sizeBytes": 7},
                                                      "example.com/any": {"entrypoint": ["true"]}}))
    app = cat.lookup("example.com/app:v1")
    assert app is not None and app.cmd == ("sleep", "5") and app.size == 7
    assert cat.lookup("example.com/app:v2") is None
    assert cat.lookup("example.com/any:whatever") is not None
    (tmp_path / "images.json").write_text("{not json")
    assert cat.lookup("example.com/app:v1") is None  # a broken file is ignored (and logged)


def test_entrypoint_and_cmd_combine_with_command_and_args(tmp_path: Path) -> None:
    cat = Catalog(tmp_path)
    agn = cat.lookup("registry.k8s.io/e2e-test-images/agnhost:2.53")
    assert container_argv(agn, [], []) == [sys.executable, AGNHOST, "pause"]
    assert container_argv(agn, [], ["netexec", "--http-port=8080"]) == [sys.executable, AGNHOST, "netexec",
                                                                        "--http-port=8080"]
    assert container_argv(agn, ["/agnhost", "serve-hostname"], []) == [sys.executable, AGNHOST, "serve-hostname"]
    busybox = cat.lookup("busybox")
    assert container_argv(busybox, [], ["sh", "-c", "true"]) == ["sh", "-c", "true"]  # args replace CMD
    assert container_argv(busybox, ["echo"], ["hi"]) == ["echo", "hi"]
    assert container_argv(cat.lookup("registry.k8s.io/pause"), [], []) == ["sleep", "infinity"]


def test_pull_events_and_backoff_follow_upstream(tmp_path: Path) -> None:
    cat = Catalog(tmp_path)
    backoffs: dict[str, PullBackoff] = {}
    now = 1000.0
    r = ensure_image(cat, backoffs, spec("nosuch"), now)
    assert (r.ok, r.reason, r.message) == (False, "ErrImagePull", NOT_FOUND)
    assert [e[1:] for e in r.events] == [("Pulling", 'Pulling image "nosuch:latest"'),
                                         ("Failed", f'Failed to pull image "nosuch:latest": {NOT_FOUND}'),
                                         ("Failed", "Error: ErrImagePull")]
    again = ensure_image(cat, backoffs, spec("nosuch"), now + 1)  # shown a moment, without new events
    assert (again.reason, again.message, again.events, again.retry_in) == ("ErrImagePull", NOT_FOUND, (), 1.0)
    r = ensure_image(cat, backoffs, spec("nosuch"), now + 3)
    assert r.reason == "ImagePullBackOff"
    assert r.message == f'Back-off pulling image "nosuch:latest": ErrImagePull: {NOT_FOUND}'
    assert [e[:2] for e in r.events] == [("Normal", "BackOff"), ("Warning", "Failed")]
    assert r.retry_in == 7.0
    periods = []
    for _ in range(8):  # each retry after the back-off fails again: 10 s doubling up to 5 minutes
        now += backoffs["nosuch:latest"].period + 0.01
        assert ensure_image(cat, backoffs, spec("nosuch"), now).reason == "ErrImagePull"
        periods.append(backoffs["nosuch:latest"].period)
    assert periods == [20, 40, 80, 160, 300, 300, 300, 300] and periods[-1] == MAX_PULL_BACKOFF

    r = ensure_image(cat, {}, spec("busybox"), now)
    assert r.ok and [e[1:] for e in r.events] == [
        ("Pulling", 'Pulling image "busybox:latest"'),
        ("Pulled", 'Successfully pulled image "busybox:latest" in 1ms (1ms including waiting). '
                   "Image size: 2155000 bytes.")]
    r = ensure_image(cat, {}, spec("busybox:1.36", "IfNotPresent"), now)
    assert r.ok and [e[1] for e in r.events] == ["Pulling", "Pulled"]
    r = ensure_image(cat, {}, spec("busybox:1.36", "IfNotPresent"), now)
    assert r.ok and [e[1:] for e in r.events] == [("Pulled", 'Container image "busybox:1.36" already present on machine')]

    r = ensure_image(cat, {}, spec("nosuch:2", "Never"), now)
    assert (r.ok, r.reason, r.message) == (False, "ErrImageNeverPull",
                                           'Container image "nosuch:2" is not present with pull policy of Never')
    assert [e[:2] for e in r.events] == [("Warning", "ErrImageNeverPull"), ("Warning", "Failed")]
    assert ensure_image(cat, {}, spec("python:3", "Never"), now).ok
    # an explicit command names a host program: any image works
    assert ensure_image(cat, {}, spec("nosuch:3", command=["sleep", "1"]), now).ok


# --- on a kubelet ------------------------------------------------------------------------------------


def events(kl: KubeletCluster, ns: str, name: str) -> list[dict[str, Any]]:
    got = kl.api.get(f"/api/v1/namespaces/{ns}/events")
    return [e for e in (got or {}).get("items") or [] if e["involvedObject"]["name"] == name]


def waiting(p: dict[str, Any]) -> dict[str, Any]:
    return dict(cstatus(p).get("state", {}).get("waiting") or {})


def test_unknown_image_backs_off_then_starts_once_in_the_catalog(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    image = f"example.com/kplane-test/{ns}:v1"
    ref = f"example.com/kplane-test/{ns}:v1"
    kl.api.create_pod(ns, pod("img", kl.node, {"name": "c", "image": image, "args": ["hello"]}))
    p = kl.api.wait_pod(ns, "img", lambda p: waiting(p).get("reason") == "ErrImagePull")
    assert phase(p) == "Pending" and "not found" in waiting(p)["message"] and ref in waiting(p)["message"]
    p = kl.api.wait_pod(ns, "img", lambda p: waiting(p).get("reason") == "ImagePullBackOff", timeout=10)
    assert waiting(p)["message"].startswith(f'Back-off pulling image "{image}": ErrImagePull: rpc error: code = NotFound')
    assert phase(p) == "Pending" and cstatus(p)["restartCount"] == 0
    r = kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/img/log")
    assert r.status_code == 400 and "is waiting to start: trying and failing to pull image" in r.text
    def pull_events() -> list[dict[str, Any]] | None:
        ev = events(kl, ns, "img")
        return ev if {"Pulling", "Failed", "BackOff"} <= {e["reason"] for e in ev} else None

    got = wait_for(pull_events, message="pull events")
    msgs = {(e["reason"], e["message"]) for e in got}
    assert ("BackOff", f'Back-off pulling image "{image}"') in msgs
    assert ("Failed", "Error: ErrImagePull") in msgs and ("Failed", "Error: ImagePullBackOff") in msgs
    assert all(e["involvedObject"].get("fieldPath") == "spec.containers{c}" for e in got
               if e["reason"] != "MissingClusterDNS")  # a pod-level event (kubelet/dns.py: no --cluster-dns)
    # the image becomes known on the node: the next try (after the 10 s back-off) pulls and runs it
    data_dir = kl.server.data_dir / kl.node
    (data_dir / "images.json").write_text(json.dumps({image: {"entrypoint": ["sh", "-c", 'echo "$0"; sleep 1000']}}))
    p = kl.api.wait_pod(ns, "img", lambda p: phase(p) == "Running", timeout=30)
    assert cstatus(p)["image"] == ref
    wait_for(lambda: "hello" in kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/img/log").text, timeout=10,
             message="the image's entrypoint ran with the args")
    (data_dir / "images.json").unlink()


def test_never_pull_policy_without_the_image(kl: KubeletCluster) -> None:
    ns = kl.api.namespace()
    kl.api.create_pod(ns, pod("never", kl.node, {"name": "c", "image": "nosuch:1", "imagePullPolicy": "Never"}))
    p = kl.api.wait_pod(ns, "never", lambda p: waiting(p).get("reason") == "ErrImageNeverPull")
    assert waiting(p)["message"] == 'Container image "nosuch:1" is not present with pull policy of Never'
    assert phase(p) == "Pending"


CLIENT = """
import os, time, urllib.request
base = "http://" + os.environ["POD_IP"] + ":18080"
for path in ("/hostname", "/echo?msg=hi%20there", "/healthz", "/shell?cmd=echo%20ok"):
    for _ in range(100):
        try:
            with urllib.request.urlopen(base + path, timeout=2) as r:
                print(path, r.status, repr(r.read().decode()), flush=True)
                break
        except OSError:
            time.sleep(0.1)
time.sleep(1000)
"""


def test_catalog_images_run_their_default_commands(kl: KubeletCluster) -> None:
    """pause sleeps, agnhost netexec serves (queried from a container of the pod), busybox runs its args."""
    ns = kl.api.namespace()
    agnhost = "registry.k8s.io/e2e-test-images/agnhost:2.53"
    pod_ip = [{"name": n, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
              for n in ("AGNHOST_BIND_ADDRESS", "POD_IP")]
    kl.api.create_pod(ns, pod("pause", kl.node, {"name": "p", "image": "registry.k8s.io/pause:3.10"},
                              {"name": "net", "image": agnhost, "args": ["netexec", "--http-port=18080"],
                               "env": pod_ip},
                              {"name": "client", "image": "python:3", "args": ["python3", "-c", CLIENT],
                               "env": pod_ip},
                              {"name": "sh", "image": "busybox", "args": ["sh", "-c", "echo from-busybox; sleep 1000"]}))
    kl.api.wait_pod(ns, "pause", lambda p: phase(p) == "Running" and all(
        "running" in c["state"] for c in p["status"]["containerStatuses"]))

    def log(name: str) -> str:
        return kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/pause/log", params={"container": name}).text

    def answers() -> str | None:
        text = log("client")
        return text if text.count("\n") >= 4 else None

    out = wait_for(answers, timeout=20, message="the client's four answers")
    assert out.splitlines() == ["/hostname 200 'pause'", "/echo?msg=hi%20there 200 'hi there'", "/healthz 200 ''",
                                "/shell?cmd=echo%20ok 200 '{\"output\": \"ok\\\\n\"}'"]
    assert "Serving on port 18080." in log("net")
    wait_for(lambda: "from-busybox" in log("sh"), message="busybox args")
    p = kl.api.pod(ns, "pause")
    assert p is not None and "running" in cstatus(p, "p")["state"] and cstatus(p, "p")["restartCount"] == 0
    pulled = wait_for(lambda: [e["message"] for e in events(kl, ns, "pause") if e["reason"] == "Pulled"],
                      message="Pulled events")
    assert any(m in pulled for m in (
        f'Successfully pulled image "{agnhost}" in 1ms (1ms including waiting). Image size: 51200000 bytes.',
        f'Container image "{agnhost}" already present on machine'))


def test_agnhost_serve_hostname_and_pause_exit_cleanly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HOSTNAME": "web-0", "AGNHOST_BIND_ADDRESS": "127.0.0.1"}
    server = subprocess.Popen([sys.executable, AGNHOST, "serve-hostname", f"--port={port}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    pause = subprocess.Popen([sys.executable, AGNHOST, "pause"], stdout=subprocess.PIPE)
    try:
        def get() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2, trust_env=False)
            except httpx.HTTPError:
                return None

        r = wait_for(get, timeout=10, message="serve-hostname answers")
        assert r.text == "web-0"
        assert pause.stdout is not None and pause.stdout.readline() == b"Paused\n"
    finally:
        server.send_signal(signal.SIGTERM)
        pause.send_signal(signal.SIGTERM)
        assert server.wait(10) == 0 and pause.wait(10) == 0
    bad = subprocess.run([sys.executable, AGNHOST, "nope"], capture_output=True, check=False, timeout=10)
    assert bad.returncode == 1 and b'unknown command "nope" for "agnhost"' in bad.stderr
