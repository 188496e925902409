"""Issue-6 acceptance with kubectl: a CRD becomes an API, and goes away with its objects."""

from __future__ import annotations

import uuid
from pathlib import Path

from conformance.conftest import Kubectl

MANIFESTS = Path(__file__).parent / "manifests"


def test_crontab_lifecycle(kubectl: Kubectl, tmp_path: Path) -> None:
    # a group of its own per run, so the two kubectl runs do not share the CRD
    suffix = uuid.uuid4().hex[:6]
    group = f"stable{suffix}.example.com"
    crd = (MANIFESTS / "crontab-crd.yaml").read_text().replace("stable.example.com", group).replace(
        "    - ct\n", f"    - ct{suffix}\n")
    cr = (MANIFESTS / "my-crontab.yaml").read_text().replace("stable.example.com", group)
    (tmp_path / "crd.yaml").write_text(crd)
    (tmp_path / "cr.yaml").write_text(cr)
    name = f"crontabs.{group}"
    kubectl("apply", "-f", str(tmp_path / "crd.yaml"))
    kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=20s")
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(tmp_path / "cr.yaml")).stdout
    rows = [line.split() for line in kubectl("get", f"crontabs.{group}").stdout.splitlines()]
    assert rows[0] == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert rows[1][:6] == ["my-new-cron-object", "*", "*", "*", "*", "*/5"] and rows[1][6] == "1"
    short = kubectl("get", f"ct{suffix}").stdout.splitlines()
    assert short[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"] and short[1].startswith("my-new-cron-object")
    explain = kubectl("explain", f"crontabs.{group}.spec").stdout
    assert "cronSpec\t<string>" in explain and "The cron schedule." in explain
    kubectl("patch", f"crontabs.{group}", "my-new-cron-object", "--type=merge", "-p", '{"spec":{"image":"v2"}}')
    assert "scaled" in kubectl("scale", f"crontabs.{group}", "my-new-cron-object", "--replicas=3").stdout
    out = kubectl("get", f"crontabs.{group}", "my-new-cron-object", "-o",
                  "jsonpath={.spec.image} {.spec.replicas} {.metadata.generation}").stdout
    assert out == "v2 3 3"
    r = kubectl("patch", f"crontabs.{group}", "my-new-cron-object", "--type=strategic", "-p", "{}", ok=False)
    assert r.returncode == 1 and "UnsupportedMediaType" in r.stderr or "unknown format" in r.stderr
    kubectl("delete", "crd", name, "--timeout=30s")
    r = kubectl("get", f"crontabs.{group}", ok=False)
    assert r.returncode == 1
