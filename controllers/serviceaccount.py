"""The `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap in every namespace.

Behaviour follows upstream's serviceaccounts controller (pkg/controller/serviceaccount) and root CA
certificate publisher (pkg/controller/certificates/rootcacertpublisher):

* ``ServiceAccountController`` keeps a ServiceAccount named ``default`` in every *Active* namespace and
  recreates it when it is deleted. It never updates an existing one.
* ``RootCACertPublisher`` keeps a ConfigMap ``kube-root-ca.crt`` in every namespace whose ``data`` is exactly
  ``{"ca.crt": <the cluster CA PEM>}`` and which carries the ``kubernetes.io/description`` annotation; edits
  are reverted and a deleted one is recreated. The PEM comes from ``options["root_ca_file"]``.

Creating in a namespace that is gone or terminating is not an error: the key is dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .client import ApiError, path_for
from .runtime import Controller, Obj, Result

log = logging.getLogger("kplane.controllers.serviceaccount")

#: the ServiceAccounts every namespace gets (upstream's serviceAccountsToEnsure)
SERVICE_ACCOUNTS_TO_ENSURE = ("default",)

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def namespace_gone_or_terminating(err: ApiError) -> bool:
    """A create refused because its namespace does not exist or is being terminated."""
    if err.not_found:
        return True
    if err.status != 403:
        return False
    causes = (err.body.get("details") or {}).get("causes") or []
    if any(c.get("type") == "NamespaceTerminating" for c in causes):
        return True
    return "because it is being terminated" in str(err.body.get("message", ""))


def _active(ns: Obj) -> bool:
    return (ns.get("status") or {}).get("phase", "Active") == "Active" and not ns["metadata"].get("deletionTimestamp")


class ServiceAccountController(Controller):
    """Keys are namespace names."""

    name = "serviceaccount"

    def setup(self) -> None:
        self.namespaces = self.informers.get("", "v1", "namespaces")
        self.serviceaccounts = self.informers.get("", "v1", "serviceaccounts")
        self.namespaces.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.serviceaccounts.add_handlers(on_delete=self._sa_deleted)

    def _sa_deleted(self, sa: Obj) -> None:
        meta = sa["metadata"]
        if meta["name"] in SERVICE_ACCOUNTS_TO_ENSURE and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def reconcile(self, key: str) -> Result | None:
        ns = self.namespaces.get(key)
        if ns is None or not _active(ns):
            return None  # no ServiceAccounts in non-active namespaces
        for name in SERVICE_ACCOUNTS_TO_ENSURE:
            if self.serviceaccounts.get(f"{key}/{name}") is not None:
                continue
            sa: Obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": key}}
            try:
                await self.client.create(path_for("", "v1", "serviceaccounts", key), sa)
                log.info("created ServiceAccount %s/%s", key, name)
            except ApiError as e:
                if e.conflict:  # AlreadyExists: the cache was behind
                    continue
                if namespace_gone_or_terminating(e):
                    return None
                raise
        return None


class RootCACertPublisher(Controller):
    """Keys are namespace names."""

    name = "root-ca-cert-publisher"

    def setup(self) -> None:
        self.root_ca = self._read_root_ca()
        self.namespaces = self.informers.get("", "v1", "namespaces")
        self.configmaps = self.informers.get("", "v1", "configmaps")
        self.namespaces.add_handlers(on_add=self.enqueue, on_update=self._namespace_updated)
        self.configmaps.add_handlers(on_update=lambda _old, new: self._configmap_changed(new),
                                     on_delete=self._configmap_changed)

    def _read_root_ca(self) -> str:
        path = self.options.get("root_ca_file") or ""
        if not path:
            log.error("root-ca-cert-publisher: no --root-ca-file; kube-root-ca.crt is not published")
            return ""
        try:
            return Path(path).read_text()
        except OSError as e:
            log.error("root-ca-cert-publisher: cannot read %s: %s", path, e)
            return ""

    def enqueue(self, obj: Obj) -> None:
        if self.root_ca:
            super().enqueue(obj)

    def _namespace_updated(self, _old: Obj, new: Obj) -> None:
        if (new.get("status") or {}).get("phase") == "Active":
            self.enqueue(new)

    def _configmap_changed(self, cm: Obj) -> None:
        meta = cm["metadata"]
        if meta["name"] == ROOT_CA_CONFIGMAP and meta.get("namespace") and self.root_ca:
            self.queue.add(meta["namespace"])

    async def reconcile(self, key: str) -> Result | None:
        if self.namespaces.get(key) is None:
            return None
        data = {"ca.crt": self.root_ca}
        cm = self.configmaps.get(f"{key}/{ROOT_CA_CONFIGMAP}")
        if cm is None:
            new: Obj = {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": key,
                                     "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                        "data": data}
            try:
                await self.client.create(path_for("", "v1", "configmaps", key), new)
            except ApiError as e:
                if namespace_gone_or_terminating(e):  # don't retry: the namespace is going away
                    return None
                raise  # AlreadyExists included: requeue and compare with what is there
            return None
        annotations = cm["metadata"].get("annotations") or {}
        if cm.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return None
        updated: Obj = {**cm, "data": data,
                        "metadata": {**cm["metadata"], "annotations": {**annotations,
                                                                        DESCRIPTION_ANNOTATION: DESCRIPTION}}}
        await self.client.update(path_for("", "v1", "configmaps", key, ROOT_CA_CONFIGMAP), updated)
        return None
