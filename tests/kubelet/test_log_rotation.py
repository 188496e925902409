"""Container log rotation (containerLogMaxSize / containerLogMaxFiles) in upstream's file layout."""

from __future__ import annotations

import asyncio
import gzip
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelet.logs import LogLimits, LogOptions, LogWriter, container_log_limits, read_log, rotated_files
from tests.cluster import wait_for
from tests.kubelet.conftest import KubeletCluster, start_kubelet, wait_node_ready
from tests.kubelet.util import container, phase, pod

ROTATED = re.compile(r"^0\.log\.\d{8}-\d{6}(\.gz)?$")


def settle(path: Path, max_files: int) -> list[Path]:
    """The rotated files once the background compression has caught up (all but the newest gzipped)."""
    def done() -> list[Path] | None:
        rotated = rotated_files(path)
        ok = len(rotated) <= max_files - 1 and all(p.suffix == ".gz" for p in rotated[:-1]) \
            and not list(path.parent.glob("*.tmp"))
        return rotated if ok else None

    return wait_for(done, timeout=10, message="rotation settled")


def lines(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.splitlines()


def test_rotation_renames_compresses_and_prunes(tmp_path: Path) -> None:
    path = tmp_path / "c" / "0.log"
    w = LogWriter(path, LogLimits(max_size=1000, max_files=3))
    written = 0
    for round_ in range(4):  # one rotation per second at most: four rounds, four rotations
        for i in range(12):
            w.write("stdout", f"round {round_} line {i:03d} {'x' * 40}\n".encode())
            written += 1
        time.sleep(1.05)
    w.write("stderr", b"last\n")
    w.close()
    rotated = settle(path, 3)
    assert len(rotated) == 2  # max files 3: the current one and two rotated
    assert all(ROTATED.match(p.name) for p in rotated)
    assert rotated[0].suffix == ".gz" and rotated[-1].suffix != ".gz"  # the newest stays plain
    assert all(line.split(b" ", 3)[1] in (b"stdout", b"stderr") for p in rotated for line in lines(p))
    assert all(p.stat().st_size <= 1000 + 100 for p in rotated if p.suffix != ".gz")
    # the current file holds what came after the last rotation; the oldest rounds were pruned
    current = path.read_bytes().splitlines()
    assert current[-1].endswith(b"stderr F last")
    assert b"round 0 " not in b"".join(b"".join(lines(p)) for p in rotated)


def test_kubectl_logs_reads_the_current_file(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    w = LogWriter(path, LogLimits(max_size=200, max_files=2))
    w.write("stdout", b"first " + b"a" * 250 + b"\n")  # over the size: rotated at once
    w.write("stdout", b"second\n")
    w.close()
    settle(path, 2)

    async def read() -> bytes:
        return b"".join([chunk async for chunk in read_log(path, LogOptions(), running=lambda: False)])

    assert asyncio.run(read()) == b"second\n"


def test_follow_continues_across_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    w = LogWriter(path, LogLimits(max_size=100, max_files=2))

    async def follow() -> bytes:
        out = b""
        running = True

        async def write() -> None:
            nonlocal running
            w.write("stdout", b"before\n")
            await asyncio.sleep(0.3)
            w.write("stdout", b"x" * 120 + b"\n")  # rotates after this line
            await asyncio.sleep(0.3)
            w.write("stdout", b"after\n")
            await asyncio.sleep(0.3)
            running = False

        task = asyncio.create_task(write())
        await asyncio.sleep(0.05)
        async for chunk in read_log(path, LogOptions(follow=True), running=lambda: running, poll=0.05):
            out += chunk
        await task
        return out

    assert asyncio.run(follow()) == b"before\n" + b"x" * 120 + b"\nafter\n"
    w.close()


def test_flags_are_validated() -> None:
    assert container_log_limits("10Mi", 5) == LogLimits(10 * 1024 * 1024, 5)
    with pytest.raises(ValueError, match="must be equal to or greater than 2"):
        container_log_limits("10Mi", 1)
    with pytest.raises(ValueError, match="container-log-max-size"):
        container_log_limits("ten", 5)


@pytest.fixture(scope="module")
def small_logs(kl: KubeletCluster) -> Iterator[tuple[str, Path]]:
    """A second process kubelet on the same API server with 2 KiB logs, 3 files."""
    node = "kn-logrot"
    kubelet = start_kubelet(kl.server, node, "--runtime", "process", "--container-log-max-size", "2Ki",
                            "--container-log-max-files", "3")
    try:
        wait_node_ready(kl.api, node, kubelet)
        yield node, kl.server.data_dir / node
    finally:
        kubelet.stop()


WRITER = "for i in $(seq 1 6); do for j in $(seq 1 40); do echo \"line $i-$j padding-padding-padding\"; done; " \
         "sleep 1.1; done; echo done; sleep 1000"


def test_a_chatty_container_gets_its_log_rotated(kl: KubeletCluster, small_logs: tuple[str, Path]) -> None:
    node, data_dir = small_logs
    ns = kl.api.namespace()
    created = kl.api.create_pod(ns, pod("chatty", node, container("c", "sh", "-c", WRITER)))
    kl.api.wait_pod(ns, "chatty", lambda p: phase(p) == "Running")
    log_dir = data_dir / "logs" / f"{ns}_chatty_{created['metadata']['uid']}" / "c"

    def logs() -> str:
        return kl.api.http.get(f"/api/v1/namespaces/{ns}/pods/chatty/log").text

    wait_for(lambda: logs().endswith("done\n"), timeout=30, message="the writer finished")
    rotated = settle(log_dir / "0.log", 3)
    assert len(rotated) == 2 and all(ROTATED.match(p.name) for p in rotated)
    assert rotated[0].suffix == ".gz" and rotated[1].suffix != ".gz"
    assert sorted(p.name for p in log_dir.iterdir()) == sorted(["0.log", *(p.name for p in rotated)])
    # `kubectl logs` shows the current file only: the last lines, not the first
    text = logs()
    assert text.endswith("done\n") and "line 1-" not in text and "line 2-" not in text
    assert (log_dir / "0.log").stat().st_size <= 2048 + 200
