"""Issue-4 acceptance with kubectl: apply/edit cycles, patch flavours, diff and server dry-run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from conformance.conftest import Kubectl

MANIFESTS = Path(__file__).parent / "manifests"
V1, V2 = str(MANIFESTS / "web-v1.yaml"), str(MANIFESTS / "web-v2.yaml")


def new_ns(kubectl: Kubectl) -> str:
    name = "p-" + uuid.uuid4().hex[:8]
    kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    return name


def deployment(kubectl: Kubectl, ns: str) -> dict:
    return json.loads(kubectl("-n", ns, "get", "deploy", "web", "-o", "json").stdout)


def test_apply_edit_apply_keeps_other_managers_fields(kubectl: Kubectl) -> None:
    ns = new_ns(kubectl)
    kubectl("-n", ns, "apply", "-f", V1)
    kubectl("-n", ns, "annotate", "deploy", "web", "other=kept")
    kubectl("-n", ns, "label", "deploy", "web", "extra=yes")
    assert "deployment.apps/web configured" in kubectl("-n", ns, "apply", "-f", V2).stdout
    d = deployment(kubectl, ns)
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "nginx:1.27"
    assert c["env"] == [{"name": "A", "value": "1"}]
    assert [p["containerPort"] for p in c["ports"]] == [80, 443]
    assert d["metadata"]["annotations"]["other"] == "kept" and d["metadata"]["labels"] == {"extra": "yes"}
    assert "unchanged" in kubectl("-n", ns, "apply", "-f", V2).stdout


def test_imperative_patch_commands(kubectl: Kubectl) -> None:
    ns = new_ns(kubectl)
    kubectl("-n", ns, "apply", "-f", V1)
    kubectl("-n", ns, "label", "deploy", "web", "tier=a")
    r = kubectl("-n", ns, "label", "deploy", "web", "tier=b", ok=False)
    assert r.returncode == 1 and "already has a value (a)" in r.stderr
    kubectl("-n", ns, "label", "deploy", "web", "tier=b", "--overwrite")
    kubectl("-n", ns, "annotate", "deploy", "web", "note=x", "--overwrite")
    kubectl("-n", ns, "set", "image", "deploy/web", "nginx=nginx:2")
    kubectl("-n", ns, "rollout", "restart", "deploy/web")
    d = deployment(kubectl, ns)
    assert d["metadata"]["labels"]["tier"] == "b" and d["metadata"]["annotations"]["note"] == "x"
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    kubectl("-n", ns, "patch", "deploy", "web", "--type=strategic", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"C","value":"3"}]}]}}}}')
    kubectl("-n", ns, "patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":3}}')
    kubectl("-n", ns, "patch", "deploy", "web", "--type=json", "-p",
            '[{"op":"replace","path":"/spec/revisionHistoryLimit","value":4}]')
    d = deployment(kubectl, ns)
    env = {e["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"A", "B", "C"}
    assert d["spec"]["replicas"] == 3 and d["spec"]["revisionHistoryLimit"] == 4


def test_diff_and_server_dry_run(kubectl: Kubectl) -> None:
    ns = new_ns(kubectl)
    kubectl("-n", ns, "apply", "-f", V1)
    same = kubectl("-n", ns, "diff", "-f", V1, ok=False)
    assert same.returncode == 0 and same.stdout == ""
    different = kubectl("-n", ns, "diff", "-f", V2, ok=False)
    assert different.returncode == 1 and "+        image: nginx:1.27" in different.stdout
    out = kubectl("-n", ns, "delete", "deploy", "web", "--dry-run=server").stdout
    assert "(server dry run)" in out
    kubectl("-n", ns, "get", "deploy", "web")
    r = kubectl("-n", ns, "create", "-f", V1, "--dry-run=server", "-o", "yaml", ok=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    other = (MANIFESTS / "web-v1.yaml").read_text().replace("name: web\n", "name: other\n", 1)
    out = kubectl("-n", ns, "create", "-f", "-", "--dry-run=server", "-o", "json", input=other).stdout
    obj = json.loads(out)
    assert obj["metadata"]["name"] == "other" and obj["metadata"]["uid"] and obj["spec"]["replicas"] == 2
    assert kubectl("-n", ns, "get", "deploy", "other", ok=False).returncode == 1


def test_server_side_apply_conflicts_and_force(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = new_ns(kubectl)
    assert "serverside-applied" in kubectl("-n", ns, "apply", "--server-side", "-f", V1).stdout
    assert "serverside-applied" in kubectl("-n", ns, "apply", "--server-side", "-f", V1).stdout
    five = tmp_path / "five.yaml"
    five.write_text((MANIFESTS / "web-v1.yaml").read_text().replace("replicas: 2", "replicas: 5"))
    r = kubectl("-n", ns, "apply", "--server-side", "--field-manager=other", "-f", str(five), ok=False)
    assert r.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in r.stderr
    kubectl("-n", ns, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", str(five))
    d = json.loads(kubectl("-n", ns, "get", "deploy", "web", "-o", "json", "--show-managed-fields").stdout)
    assert d["spec"]["replicas"] == 5
    managers = {(m["manager"], m["operation"]) for m in d["metadata"]["managedFields"]}
    assert {("kubectl", "Apply"), ("other", "Apply")} <= managers


def test_edit_patches_what_the_editor_changed(kubectl: Kubectl, tmp_path: Path) -> None:
    import os
    import subprocess

    ns = new_ns(kubectl)
    kubectl("-n", ns, "apply", "-f", V1)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/image: nginx:1.26/image: nginx:edited/' \"$1\"\n")
    editor.chmod(0o755)
    env = {**os.environ, "KUBECONFIG": str(kubectl.server.kubeconfig), "KUBE_EDITOR": str(editor),
           "HOME": str(tmp_path)}
    r = subprocess.run([kubectl.binary, "-n", ns, "edit", "deploy", "web"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "deployment.apps/web edited" in r.stdout
    assert deployment(kubectl, ns)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:edited"
