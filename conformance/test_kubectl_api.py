"""Issue-3 acceptance: kubectl sees a Kubernetes 1.37 API (discovery, OpenAPI, tables, apply)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from conformance.conftest import Kubectl

MANIFESTS = Path(__file__).parent / "manifests"
ALL = str(MANIFESTS / "all.yaml")
KINDS = ["deployment.apps/web", "service/web", "configmap/cfg", "secret/sec", "job.batch/once",
         "cronjob.batch/tick", "ingress.networking.k8s.io/web", "persistentvolumeclaim/data",
         "role.rbac.authorization.k8s.io/reader"]


def new_ns(kubectl: Kubectl) -> str:
    name = "c-" + uuid.uuid4().hex[:8]
    kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    return name


def test_api_resources_and_versions(kubectl: Kubectl) -> None:
    rows = [line.split() for line in kubectl("api-resources").stdout.splitlines()]
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in rows
    assert ["pods", "po", "v1", "true", "Pod"] in rows
    assert ["namespaces", "ns", "v1", "false", "Namespace"] in rows
    assert ["horizontalpodautoscalers", "hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"] in rows
    assert ["clusterroles", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"] in rows
    assert ["tokenreviews", "authentication.k8s.io/v1", "false", "TokenReview"] in rows
    assert len(rows) - 1 >= 60
    versions = kubectl("api-versions").stdout.split()
    for gv in ["v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
               "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "storage.k8s.io/v1"]:
        assert gv in versions


def test_apply_twice_is_unchanged_then_create_replace_delete(kubectl: Kubectl) -> None:
    ns = new_ns(kubectl)
    out = kubectl("-n", ns, "apply", "-f", ALL).stdout.splitlines()
    assert out == [f"{k} created" for k in KINDS]
    out = kubectl("-n", ns, "apply", "-f", ALL).stdout.splitlines()
    # stringData is folded into data on write, so a Secret with stringData re-applies, as upstream
    assert out == [f"{k} {'configured' if k.startswith('secret/') else 'unchanged'}" for k in KINDS]
    kubectl("-n", ns, "delete", "-f", ALL)
    out = kubectl("-n", ns, "create", "-f", ALL).stdout.splitlines()
    assert out == [f"{k} created" for k in KINDS]
    # a Job's generated selector and template labels are not in the manifest: replacing it is refused, as
    # upstream (kubectl replace --force is the way); every other object is replaced
    r = kubectl("-n", ns, "replace", "-f", ALL, ok=False)
    assert r.stdout.splitlines() == [f"{k} replaced" for k in KINDS if k != "job.batch/once"]
    assert r.returncode == 1 and 'The Job "once" is invalid' in r.stderr and "spec.selector" in r.stderr
    svc = json.loads(kubectl("-n", ns, "get", "svc", "web", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"].startswith("10.")
    out = kubectl("-n", ns, "delete", "-f", ALL).stdout
    assert 'deployment.apps "web" deleted' in out


def test_strict_and_warn_validation(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = new_ns(kubectl)
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  bogus: 1\ndata:\n  a: '1'\n"
                   "unknownTop: x\n")
    r = kubectl("-n", ns, "apply", "-f", str(bad), ok=False)
    assert r.returncode == 1
    assert ('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
            'unknown field "metadata.bogus", unknown field "unknownTop"') in r.stderr
    r = kubectl("-n", ns, "apply", "-f", str(bad), "--validate=warn")
    assert "configmap/bad created" in r.stdout
    assert 'Warning: unknown field "metadata.bogus"' in r.stderr
    assert 'Warning: unknown field "unknownTop"' in r.stderr


def test_explain(kubectl: Kubectl) -> None:
    out = kubectl("explain", "pods.spec.containers").stdout
    assert "KIND:       Pod" in out and "FIELD: containers <[]Container>" in out
    assert "List of containers belonging to the pod." in out
    out = kubectl("explain", "deploy", "--recursive").stdout
    assert "GROUP:      apps" in out and "KIND:       Deployment" in out
    assert "revisionHistoryLimit\t<integer>" in out


def test_get_output_formats(kubectl: Kubectl) -> None:
    ns = new_ns(kubectl)
    kubectl("-n", ns, "apply", "-f", ALL)
    wide = kubectl("-n", ns, "get", "deploy,svc,cm", "-o", "wide").stdout
    assert "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES       SELECTOR" in wide
    assert "deployment.apps/web   0/2     0            0" in wide
    svc_header = [line for line in wide.splitlines() if line.startswith("NAME") and "CLUSTER-IP" in line][0]
    assert svc_header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    every = kubectl("-n", ns, "get", "all").stdout
    for name in ("service/web", "deployment.apps/web", "job.batch/once", "cronjob.batch/tick"):
        assert name in every
    assert kubectl("-n", ns, "get", "cm", "cfg", "-o", "jsonpath={.data.a}").stdout == "1"
    out = kubectl("-n", ns, "get", "cm", "-o", "custom-columns=N:.metadata.name,A:.data.a").stdout.split()
    assert out[:2] == ["N", "A"] and "cfg" in out
    out = kubectl("-n", ns, "get", "deploy", "--show-labels").stdout
    assert "LABELS" in out and "app=web" in out
    out = kubectl("-n", ns, "get", "deploy", "-L", "app").stdout.splitlines()
    assert out[0].split()[-1] == "APP" and out[1].split()[-1] == "web"
    kubectl("-n", ns, "create", "-f", "-", input=(
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: e1\ninvolvedObject:\n  kind: Pod\n  name: p\n"
        f"  namespace: {ns}\nreason: Tested\nmessage: hello\ntype: Normal\nlastTimestamp: '2026-01-01T00:00:00Z'\n"))
    out = kubectl("-n", ns, "get", "events", "--sort-by=.lastTimestamp").stdout
    assert "Tested" in out and "pod/p" in out and "hello" in out


def test_scale_and_generation(kubectl: Kubectl) -> None:
    ns = new_ns(kubectl)
    kubectl("-n", ns, "apply", "-f", ALL)
    gen = kubectl("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.metadata.generation}").stdout
    assert gen == "1"
    assert "deployment.apps/web scaled" in kubectl("-n", ns, "scale", "deploy", "web", "--replicas=5").stdout
    out = kubectl("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.metadata.generation} {.spec.replicas}")
    assert out.stdout == "2 5"
    kubectl("-n", ns, "label", "deploy", "web", "tier=front")
    gen = kubectl("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.metadata.generation}").stdout
    assert gen == "2"  # metadata changes do not bump generation


def test_delete_namespace_with_contents_is_terminating(kubectl: Kubectl) -> None:
    ns = new_ns(kubectl)
    kubectl("-n", ns, "apply", "-f", ALL)
    kubectl("delete", "ns", ns, "--wait=false")
    out = kubectl("get", "ns", ns).stdout
    assert out.splitlines()[1].split()[:2] == [ns, "Terminating"]
    r = kubectl("-n", ns, "create", "-f", "-", ok=False,
                input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n")
    assert r.returncode == 1
    assert (f'configmaps "late" is forbidden: unable to create new content in namespace {ns} because it is '
            "being terminated") in r.stderr
