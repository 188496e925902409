"""admissionregistration.k8s.io/v1 (MutatingAdmissionPolicy is GA since 1.36)."""

from __future__ import annotations

from . import ResourceInfo, SimpleStrategy, status

G = "admissionregistration.k8s.io"
_EXT = ("api-extensions",)
_GEN = SimpleStrategy(generation=True)

RESOURCES = [
    ResourceInfo(G, "v1", "mutatingadmissionpolicies", "MutatingAdmissionPolicy", False, categories=_EXT,
                 singular="mutatingadmissionpolicy", strategy=_GEN),
    ResourceInfo(G, "v1", "mutatingadmissionpolicybindings", "MutatingAdmissionPolicyBinding", False,
                 categories=_EXT, strategy=_GEN),
    ResourceInfo(G, "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False,
                 categories=_EXT, strategy=_GEN),
    ResourceInfo(G, "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", False, categories=_EXT,
                 singular="validatingadmissionpolicy", subresources=(status(),),
                 strategy=SimpleStrategy(status=True, generation=True)),
    ResourceInfo(G, "v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", False,
                 categories=_EXT, strategy=_GEN),
    ResourceInfo(G, "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False,
                 categories=_EXT, strategy=_GEN),
]
