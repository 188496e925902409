from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.cluster import ServerProcess


@pytest.fixture
def http(apiserver: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=apiserver.url, timeout=30) as c:
        yield c


@pytest.fixture
def namespace(http: httpx.Client) -> str:
    name = "h-" + uuid.uuid4().hex[:8]
    r = http.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name
