"""networking.k8s.io/v1."""

from __future__ import annotations

from ..strategy import Obj, Strategy
from . import ResourceInfo, SimpleStrategy, status

G = "networking.k8s.io"


class ServiceCIDRStrategy(Strategy):
    """Status is kept on create (the apiserver bootstraps the default ServiceCIDR that way)."""

    has_status = True

    def prepare_for_create(self, obj: Obj) -> None:
        pass


RESOURCES = [
    ResourceInfo(G, "v1", "ingressclasses", "IngressClass", False, strategy=SimpleStrategy(generation=True)),
    ResourceInfo(G, "v1", "ingresses", "Ingress", True, short_names=("ing",), subresources=(status(),),
                 strategy=SimpleStrategy(status=True, generation=True), storage_name="ingress"),
    ResourceInfo(G, "v1", "ipaddresses", "IPAddress", False, short_names=("ip",)),
    ResourceInfo(G, "v1", "networkpolicies", "NetworkPolicy", True, short_names=("netpol",),
                 strategy=SimpleStrategy(generation=True)),
    ResourceInfo(G, "v1", "servicecidrs", "ServiceCIDR", False, subresources=(status(),),
                 strategy=ServiceCIDRStrategy()),
]
