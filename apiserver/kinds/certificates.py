"""certificates.k8s.io/v1 (ClusterTrustBundle and PodCertificateRequest are GA in 1.37)."""

from __future__ import annotations

from . import STATUS_VERBS, ResourceInfo, SimpleStrategy, Subresource, status

G = "certificates.k8s.io"

RESOURCES = [
    ResourceInfo(G, "v1", "certificatesigningrequests", "CertificateSigningRequest", False, short_names=("csr",),
                 subresources=(Subresource("approval", "", STATUS_VERBS), status()),
                 strategy=SimpleStrategy(status=True, fields=("spec.signerName",))),
    ResourceInfo(G, "v1", "clustertrustbundles", "ClusterTrustBundle", False,
                 strategy=SimpleStrategy(fields=("spec.signerName",))),
    ResourceInfo(G, "v1", "podcertificaterequests", "PodCertificateRequest", True, subresources=(status(),),
                 strategy=SimpleStrategy(status=True, fields=("spec.signerName", "spec.podName", "spec.nodeName"))),
]
