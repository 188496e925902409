"""Volumes at their mountPaths: a mount namespace per container attempt (kubelet/mountns.py), as root.

A kubelet of its own (``--volume-mounts namespace --sync-frequency 1s``) on the session's API server, and
one in ``--volume-mounts rewrite`` mode for the path rewrite.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelet.volumes import atomic_write
from tests.cluster import wait_for
from tests.kubelet.conftest import KubeletCluster, start_kubelet, wait_node_ready
from tests.kubelet.test_kubectl import kubectl
from tests.kubelet.util import container, cstatus, phase, pod, ready


def _kubelet(kl: KubeletCluster, node: str, *flags: str) -> Iterator[KubeletCluster]:
    cidr = f"10.{random.randrange(200, 251)}.{random.randrange(0, 256)}.0/24"
    kubelet = start_kubelet(kl.server, node, "--runtime", "process", "--pod-cidr", cidr, *flags)
    try:
        wait_node_ready(kl.api, node, kubelet)
        yield KubeletCluster(kl.server, kubelet, kl.api, node)
    finally:
        kubelet.stop()


@pytest.fixture(scope="module")
def km(kl: KubeletCluster) -> Iterator[KubeletCluster]:
    yield from _kubelet(kl, f"km-{uuid.uuid4().hex[:6]}", "--volume-mounts", "namespace", "--sync-frequency", "1s")


@pytest.fixture(scope="module")
def kr(kl: KubeletCluster) -> Iterator[KubeletCluster]:
    yield from _kubelet(kl, f"kr-{uuid.uuid4().hex[:6]}", "--volume-mounts", "rewrite")


def _configmap(k: KubeletCluster, ns: str, name: str, data: dict[str, str]) -> None:
    k.api.create(f"/api/v1/namespaces/{ns}/configmaps",
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def _log(k: KubeletCluster, ns: str, name: str, c: str = "") -> str:
    return k.api.http.get(f"/api/v1/namespaces/{ns}/pods/{name}/log", params={"container": c} if c else None).text


def _host_mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


def _unique() -> str:
    return f"kplane-mt-{uuid.uuid4().hex[:8]}"


def _delete(k: KubeletCluster, ns: str, name: str) -> None:
    k.api.delete(f"/api/v1/namespaces/{ns}/pods/{name}", gracePeriodSeconds=0)
    k.api.wait_gone(ns, name)


def test_configmap_at_its_mount_path(km: KubeletCluster, kubectl_bins: tuple[str, str]) -> None:
    ns = km.api.namespace("mnt")
    _configmap(km, ns, "app", {"app.conf": "x=1", "ready": "yes"})
    km.api.create_pod(ns, pod("cfg", km.node, container(
        "c", "sh", "-c", "cat /etc/kplane-test/config/app.conf; echo; pwd; sleep 1000",
        workingDir="/etc/kplane-test/config",
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/kplane-test/config"}],
        readinessProbe={"exec": {"command": ["cat", "/etc/kplane-test/config/ready"]}, "periodSeconds": 1}),
        volumes=[{"name": "cfg", "configMap": {"name": "app"}}]))
    km.api.wait_pod(ns, "cfg", ready)  # the exec probe reads the file at its mountPath
    wait_for(lambda: _log(km, ns, "cfg").count("\n") >= 2, timeout=10, message="log")
    assert _log(km, ns, "cfg") == "x=1\n/etc/kplane-test/config\n"
    _, binary = kubectl_bins
    r = kubectl(km, binary, "-n", ns, "exec", "cfg", "--", "cat", "/etc/kplane-test/config/app.conf")
    assert r.returncode == 0 and r.stdout == "x=1", r.stderr
    r = kubectl(km, binary, "-n", ns, "exec", "cfg", "--", "sh", "-c", "pwd; ls")
    assert r.stdout == "/etc/kplane-test/config\napp.conf\nready\n", r.stderr
    # the host sees an empty mount point, nothing mounted
    assert os.listdir("/etc/kplane-test/config") == []
    assert " /etc/kplane-test/config " not in _host_mounts()
    _delete(km, ns, "cfg")


def test_emptydir_shared_by_two_containers(km: KubeletCluster) -> None:
    ns = km.api.namespace("mnt")
    a, b = f"/tmp/{_unique()}/writer", f"/var/tmp/{_unique()}"
    reader = f"for i in $(seq 200); do [ -f {b}/msg ] && break; sleep 0.05; done; cat {b}/msg; sleep 1000"
    km.api.create_pod(ns, pod("share", km.node,
                              container("w", "sh", "-c", f"echo from-w > {a}/msg; sleep 1000",
                                        volumeMounts=[{"name": "scratch", "mountPath": a}]),
                              container("r", "sh", "-c", reader, volumeMounts=[{"name": "scratch", "mountPath": b}]),
                              volumes=[{"name": "scratch", "emptyDir": {}}]))
    p = km.api.wait_pod(ns, "share", ready)
    wait_for(lambda: _log(km, ns, "share", "r") == "from-w\n", timeout=10, message="reader's log")
    data = km.server.data_dir / km.node / "pods" / p["metadata"]["uid"] / "volumes" / "scratch"
    assert (data / "msg").read_text() == "from-w\n"
    assert os.listdir(a) == [] and os.listdir(b) == []  # written in the volume, not on the host path
    _delete(km, ns, "share")


def test_read_only_mount_refuses_writes(km: KubeletCluster) -> None:
    ns = km.api.namespace("mnt")
    target = f"/tmp/{_unique()}"
    km.api.create_pod(ns, pod("ro", km.node, container(
        "c", "sh", "-c", f"touch {target}/f 2>&1 || echo refused; touch /dev/null && echo rest-writable",
        volumeMounts=[{"name": "scratch", "mountPath": target, "readOnly": True}]),
        restart="Never", volumes=[{"name": "scratch", "emptyDir": {}}]))
    km.api.wait_pod(ns, "ro", lambda p: phase(p) == "Succeeded")
    log = _log(km, ns, "ro")
    assert "Read-only file system" in log and "refused\nrest-writable\n" in log, log
    _delete(km, ns, "ro")


def test_subpath_file_and_directory(km: KubeletCluster) -> None:
    ns = km.api.namespace("mnt")
    _configmap(km, ns, "app", {"app.conf": "x=1", "other": "y"})
    base = f"/etc/{_unique()}"
    script = (f"cat {base}/app.conf; echo; [ -f {base}/app.conf ] && echo is-a-file; ls {base}; "
              f"echo in-sub > {base}/work/f")
    km.api.create_pod(ns, pod("sub", km.node, container(
        "c", "sh", "-c", script,
        volumeMounts=[{"name": "cfg", "mountPath": f"{base}/app.conf", "subPath": "app.conf"},
                      {"name": "scratch", "mountPath": f"{base}/work", "subPath": "a/b"}]),
        restart="Never", volumes=[{"name": "cfg", "configMap": {"name": "app"}}, {"name": "scratch", "emptyDir": {}}]))
    p = km.api.wait_pod(ns, "sub", lambda p: phase(p) in ("Succeeded", "Failed"))
    assert phase(p) == "Succeeded", _log(km, ns, "sub")
    assert _log(km, ns, "sub") == "x=1\nis-a-file\napp.conf\nwork\n"
    volumes = km.server.data_dir / km.node / "pods" / p["metadata"]["uid"] / "volumes"
    assert (volumes / "scratch" / "a" / "b" / "f").read_text() == "in-sub\n"
    assert Path(f"{base}/app.conf").is_file() and Path(f"{base}/app.conf").stat().st_size == 0
    _delete(km, ns, "sub")
    wait_for(lambda: not os.path.exists(base), timeout=10, message=f"{base} removed")


def test_configmap_update_reaches_the_running_container(km: KubeletCluster) -> None:
    ns = km.api.namespace("mnt")
    _configmap(km, ns, "live", {"k": "v1"})
    base = f"/tmp/{_unique()}"
    loop = f"for i in $(seq 600); do echo live=$(cat {base}/dir/k) pinned=$(cat {base}/pinned); sleep 0.1; done"
    km.api.create_pod(ns, pod("upd", km.node, container(
        "c", "sh", "-c", loop, volumeMounts=[{"name": "cfg", "mountPath": f"{base}/dir"},
                                             {"name": "cfg", "mountPath": f"{base}/pinned", "subPath": "k"}]),
        volumes=[{"name": "cfg", "configMap": {"name": "live"}}]))
    km.api.wait_pod(ns, "upd", ready)
    wait_for(lambda: "live=v1 pinned=v1\n" in _log(km, ns, "upd"), timeout=10, message="first content")
    r = km.api.http.patch(f"/api/v1/namespaces/{ns}/configmaps/live", json={"data": {"k": "v2"}},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    # upstream: a directory mount is updated; a subPath mount keeps what it had
    wait_for(lambda: "live=v2 pinned=v1\n" in _log(km, ns, "upd"), timeout=20, message="updated content")
    _delete(km, ns, "upd")


def test_deleting_a_pod_leaves_no_mounts_behind(km: KubeletCluster) -> None:
    ns = km.api.namespace("mnt")
    _configmap(km, ns, "app", {"k": "v"})
    base = f"/opt/{_unique()}"
    km.api.create_pod(ns, pod("leak", km.node, container(
        "c", "sh", "-c", "readlink /proc/self/ns/mnt; sleep 1000",
        volumeMounts=[{"name": "scratch", "mountPath": f"{base}/deep/dir"},
                      {"name": "cfg", "mountPath": f"{base}/file.conf", "subPath": "k"},
                      {"name": "cfg", "mountPath": f"{base}/deep/dir/nested"}]),
        volumes=[{"name": "scratch", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "app"}}]))
    p = km.api.wait_pod(ns, "leak", ready)
    wait_for(lambda: _log(km, ns, "leak").startswith("mnt:["), timeout=10, message="the container's namespace")
    container_ns = _log(km, ns, "leak").strip()
    assert container_ns != os.readlink("/proc/self/ns/mnt")
    uid = p["metadata"]["uid"]
    assert base not in _host_mounts() and uid not in _host_mounts()  # private: nothing reached the host
    assert sorted(os.listdir(base)) == ["deep", "file.conf"] and os.listdir(f"{base}/deep/dir") == []
    _delete(km, ns, "leak")

    def namespace_gone() -> bool:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if os.readlink(f"/proc/{entry.name}/ns/mnt") == container_ns:
                        return False
                except OSError:
                    continue
        return True

    wait_for(namespace_gone, timeout=10, message="no process left in the container's mount namespace")
    assert base not in _host_mounts() and uid not in _host_mounts()
    wait_for(lambda: not os.path.exists(base), timeout=10, message=f"mount points under {base} removed")


def test_host_paths_kplane_did_not_create_stay(km: KubeletCluster, tmp_path: Path) -> None:
    ns = km.api.namespace("mnt")
    (tmp_path / "existing").mkdir()
    km.api.create_pod(ns, pod("keep", km.node, container(
        "c", "sh", "-c", f"ls {tmp_path}/existing",
        volumeMounts=[{"name": "scratch", "mountPath": f"{tmp_path}/existing"},
                      {"name": "scratch", "mountPath": f"{tmp_path}/created"}]),
        restart="Never", volumes=[{"name": "scratch", "emptyDir": {}}]))
    km.api.wait_pod(ns, "keep", lambda p: phase(p) == "Succeeded")
    assert (tmp_path / "created").is_dir()
    _delete(km, ns, "keep")
    wait_for(lambda: not (tmp_path / "created").exists(), timeout=10, message="created mount point removed")
    assert (tmp_path / "existing").is_dir()


def test_a_mount_that_fails_is_a_start_error(km: KubeletCluster, tmp_path: Path) -> None:
    ns = km.api.namespace("mnt")
    (tmp_path / "a-file").write_text("host file\n")
    km.api.create_pod(ns, pod("bad", km.node, container(
        "c", "true", volumeMounts=[{"name": "scratch", "mountPath": f"{tmp_path}/a-file"}]),
        restart="Never", volumes=[{"name": "scratch", "emptyDir": {}}]))
    p = km.api.wait_pod(ns, "bad", lambda p: phase(p) == "Failed")
    term = cstatus(p)["state"]["terminated"]
    assert term["reason"] == "StartError" and term["exitCode"] == 128
    assert term["message"].startswith("failed to create containerd task: failed to create shim task: ")
    assert f'to rootfs at "{tmp_path}/a-file"' in term["message"] and term["message"].endswith(": unknown")
    assert (tmp_path / "a-file").read_text() == "host file\n"
    _delete(km, ns, "bad")


def test_subpath_outside_the_volume_is_a_config_error(km: KubeletCluster) -> None:
    ns = km.api.namespace("mnt")
    vol = f"/tmp/{_unique()}"
    km.api.create_pod(ns, pod("escape", km.node, container(  # a symlink in the volume pointing out of it
        "c", "sleep", "1000", volumeMounts=[{"name": "scratch", "mountPath": "/data", "subPath": "link"}]),
        initContainers=[container("mk", "ln", "-s", "/etc", f"{vol}/link",
                                  volumeMounts=[{"name": "scratch", "mountPath": vol}])],
        volumes=[{"name": "scratch", "emptyDir": {}}]))
    p = km.api.wait_pod(ns, "escape", lambda p: (cstatus(p).get("state") or {}).get("waiting", {}).get("reason")
                        == "CreateContainerConfigError")
    assert cstatus(p)["state"]["waiting"]["message"] == \
        'failed to prepare subPath for volumeMount "scratch" of container "c"'
    _delete(km, ns, "escape")


def test_rewrite_mode_keeps_the_path_rewrite(kr: KubeletCluster) -> None:
    ns = kr.api.namespace("rw")
    _configmap(kr, ns, "app", {"app.conf": "x=1"})
    scratch = f"/tmp/{_unique()}"
    script = (f"cat /etc/app/app.conf; echo; cat $CFG/app.conf; echo; echo shared > {scratch}/f; cat {scratch}/f; "
              "pwd | grep -q /volumes/tmp && echo in-scratch; readlink /proc/self/ns/mnt")
    kr.api.create_pod(ns, pod("rw", kr.node, container(
        "c", "sh", "-c", script, workingDir=scratch, env=[{"name": "CFG", "value": "/etc/app"}],
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/app"}, {"name": "tmp", "mountPath": scratch}]),
        restart="Never", volumes=[{"name": "cfg", "configMap": {"name": "app"}}, {"name": "tmp", "emptyDir": {}}]))
    kr.api.wait_pod(ns, "rw", lambda p: phase(p) == "Succeeded")
    # the host's mount namespace; paths in the command, env and workingDir point into the volumes
    assert _log(kr, ns, "rw") == f"x=1\nx=1\nshared\nin-scratch\n{os.readlink('/proc/self/ns/mnt')}\n"
    assert not os.path.exists("/etc/app")
    assert not os.path.exists(scratch)  # no mount point is made on the host in rewrite mode
    _delete(kr, ns, "rw")


def test_atomic_writer_layout(tmp_path: Path) -> None:
    """configMap-style volumes: ``..data`` -> a timestamped directory, each top-level name a symlink."""
    vol = tmp_path / "vol"
    assert atomic_write(vol, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    first = os.readlink(vol / "..data")
    assert first.startswith("..") and os.readlink(vol / "a") == "..data/a" and os.readlink(vol / "dir") == "..data/dir"
    assert (vol / "dir" / "b").read_bytes() == b"2" and (vol / "dir" / "b").stat().st_mode & 0o777 == 0o600
    assert not atomic_write(vol, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})  # unchanged: nothing written
    inode = vol.stat().st_ino
    assert atomic_write(vol, {"a": (b"3", 0o644)})
    assert (vol / "a").read_bytes() == b"3" and not os.path.lexists(vol / "dir")
    assert not (vol / first).exists() and vol.stat().st_ino == inode  # the old payload is gone, the dir stays
    assert sorted(os.listdir(vol)) == sorted(["..data", os.readlink(vol / "..data"), "a"])


def test_bad_flag_values_are_refused(kl: KubeletCluster) -> None:
    for flag, value, words in (("--sync-frequency", "soon", 'time: invalid duration "soon"'),
                               ("--volume-mounts", "bind", "invalid choice: 'bind'")):
        r = subprocess.run([sys.executable, "-m", "kplane.cli", "kubelet", "--kubeconfig",
                            str(kl.server.kubeconfig), "--node-name", "nope", flag, value],
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode != 0 and words in r.stderr, r.stderr
