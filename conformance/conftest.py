from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from subprocess import CompletedProcess

import pytest

from conformance.kubectl import KUBECTL_LABELS, kubectl_binary, run_kubectl
from tests.cluster import ServerProcess
from tests.conftest import apiserver, etcd_server  # noqa: F401  (shared session fixtures)


@dataclass
class Kubectl:
    label: str
    binary: str
    server: ServerProcess

    def __call__(self, *args: str, input: str | None = None, ok: bool = True, timeout: float = 60
                 ) -> CompletedProcess[str]:
        r = run_kubectl(self.binary, self.server.kubeconfig, *args, input=input, timeout=timeout)
        if ok:
            assert r.returncode == 0, f"kubectl {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r


@pytest.fixture(params=KUBECTL_LABELS)
def kubectl(request: pytest.FixtureRequest, apiserver: ServerProcess) -> Iterator[Kubectl]:  # noqa: F811
    yield Kubectl(request.param, kubectl_binary(request.param), apiserver)
