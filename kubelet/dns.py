"""Per-pod /etc/hosts and /etc/resolv.conf, as upstream's kubelet (and its runtime) write them.

For a pod with a sandbox of its own (pod network ``netns``, not hostNetwork) whose containers run in mount
namespaces (``--volume-mounts namespace``), the kubelet writes ``<pod dir>/etc-hosts`` and
``<pod dir>/resolv.conf`` once, at sandbox creation; every container gets them bind-mounted at /etc/hosts
and /etc/resolv.conf (read-write, as upstream) unless it mounts something at that path itself. hostNetwork
pods, and every pod in ``rewrite`` mode (no mount namespaces: nothing to mount into), see the host's files.

hosts: upstream's managed file (localhost lines, the pod IP with its hostname, and its FQDN first when
spec.subdomain is set, then spec.hostAliases under "# Entries added by HostAliases.").

resolv.conf, by dnsPolicy: ``ClusterFirst`` (and ``ClusterFirstWithHostNet``) with ``--cluster-dns``:
the cluster search path (plus the host's search domains), the cluster nameservers, ``options ndots:5``;
without ``--cluster-dns`` upstream falls back to ``Default`` with a ``MissingClusterDNS`` warning.
``Default``: the host's search domains and options, but **not** its nameservers: pods have no route out of
the node, so the host's nameserver would only make every lookup hang until it times out. kplane uses
``nameserver 127.0.0.1`` instead, which in the pod's own network namespace refuses at once (nothing
listens on port 53 there), so lookups fail fast. ``None``: dnsConfig only. spec.dnsConfig is merged as
upstream: nameservers and searches appended without duplicates, options overriding by name.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .network import CLUSTER_DOMAIN

Obj = dict[str, Any]

HOST_RESOLV_CONF = "/etc/resolv.conf"
#: the "Default" nameserver in a pod sandbox: refused at once (see the module docstring)
FAIL_FAST_NAMESERVER = "127.0.0.1"
MAX_NAMESERVERS = 3  # as upstream (validation.MaxDNSNameservers)
MAX_SEARCH_PATHS = 32  # as upstream (validation.MaxDNSSearchPaths)
MAX_SEARCH_CHARS = 2048  # as upstream (validation.MaxDNSSearchListChars)

HOSTS_FILE = "etc-hosts"
RESOLV_FILE = "resolv.conf"
#: container path -> the file's name in the pod directory
POD_FILES = {"/etc/hosts": HOSTS_FILE, "/etc/resolv.conf": RESOLV_FILE}

_HOSTS_HEADER = ("# Kubernetes-managed hosts file.\n"
                 "127.0.0.1\tlocalhost\n"
                 "::1\tlocalhost ip6-localhost ip6-loopback\n"
                 "fe00::0\tip6-localnet\n"
                 "fe00::0\tip6-mcastprefix\n"
                 "fe00::1\tip6-allnodes\n"
                 "fe00::2\tip6-allrouters\n")


@dataclass
class DNSConfig:
    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def short_hostname(pod: Obj) -> str:
    """spec.hostname, else the pod name cut to 63 characters (trailing '-' and '.' dropped), as upstream."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    return str(spec.get("hostname") or "") or str(meta.get("name", ""))[:63].rstrip("-.")


def hosts_file(pod: Obj, pod_ips: list[str], cluster_domain: str = CLUSTER_DOMAIN) -> str:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    name = short_hostname(pod)
    subdomain = spec.get("subdomain")
    out = [_HOSTS_HEADER]
    for ip in pod_ips:
        if subdomain:
            out.append(f"{ip}\t{name}.{subdomain}.{meta.get('namespace', 'default')}.svc.{cluster_domain}\t{name}\n")
        else:
            out.append(f"{ip}\t{name}\n")
    aliases = spec.get("hostAliases") or []
    if aliases:
        out.append("\n# Entries added by HostAliases.\n")
        for alias in aliases:
            out.append(f"{alias.get('ip', '')}\t" + "\t".join(alias.get("hostnames") or []) + "\n")
    return "".join(out)


def parse_resolv_conf(text: str) -> DNSConfig:
    """nameserver, search and options lines (the last search line wins, as in glibc)."""
    cfg = DNSConfig()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            cfg.nameservers.append(fields[1])
        elif fields[0] == "search":
            cfg.searches = [s.rstrip(".") if s != "." else s for s in fields[1:]]
        elif fields[0] == "options":
            cfg.options.extend(fields[1:])
    return cfg


def host_resolv_conf(path: str = HOST_RESOLV_CONF) -> DNSConfig:
    with contextlib.suppress(OSError):
        return parse_resolv_conf(Path(path).read_text())
    return DNSConfig()


def dns_type(pod: Obj) -> str:
    """``cluster``, ``host`` or ``none`` for the pod's dnsPolicy (the API server defaults it to ClusterFirst)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "none"
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork")):
        return "cluster"
    return "host"


def _merge_options(existing: list[str], extra: list[Obj]) -> list[str]:
    """Options by name: a dnsConfig option overrides an existing one of the same name (in place)."""
    merged: dict[str, str | None] = {}
    for op in existing:
        name, sep, value = op.partition(":")
        merged[name] = value if sep else None
    for item in extra:
        key = str(item.get("name") or "")
        if key:
            val = item.get("value")
            merged[key] = str(val) if val is not None else None
    return [name if value is None or value == "" else f"{name}:{value}" for name, value in merged.items()]


def pod_dns(pod: Obj, cluster_dns: list[str], *, host: DNSConfig | None = None,
            cluster_domain: str = CLUSTER_DOMAIN) -> tuple[DNSConfig, list[tuple[str, str, str]]]:
    """The pod's DNS configuration and the events (type, reason, message) to record about it."""
    host = host if host is not None else host_resolv_conf()
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    events: list[tuple[str, str, str]] = []
    kind = dns_type(pod)
    if kind == "cluster" and not cluster_dns:
        policy = spec.get("dnsPolicy") or "ClusterFirst"
        events.append(("Warning", "MissingClusterDNS", "kubelet does not have ClusterDNS IP configured and cannot "
                       f'create Pod using "{policy}" policy. Falling back to "Default" policy.'))
        kind = "host"
    if kind == "cluster":
        ns = meta.get("namespace", "default")
        cfg = DNSConfig(list(cluster_dns),
                        _unique([f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain,
                                 *host.searches]),
                        ["ndots:5"])
    elif kind == "host":
        cfg = DNSConfig([FAIL_FAST_NAMESERVER], list(host.searches), list(host.options))
    else:
        cfg = DNSConfig()
    extra = spec.get("dnsConfig") or {}
    if extra:
        cfg.nameservers = _unique([*cfg.nameservers, *(str(s) for s in extra.get("nameservers") or [])])
        cfg.searches = _unique([*cfg.searches, *(str(s) for s in extra.get("searches") or [])])
        cfg.options = _merge_options(cfg.options, extra.get("options") or [])
    if len(cfg.nameservers) > MAX_NAMESERVERS:
        cfg.nameservers = cfg.nameservers[:MAX_NAMESERVERS]
        events.append(("Warning", "DNSConfigForming", "Nameserver limits were exceeded, some nameservers have been "
                       f"omitted, the applied nameserver line is: {' '.join(cfg.nameservers)}"))
    searches = _fit_searches(cfg.searches)
    if searches != cfg.searches:
        cfg.searches = searches
        events.append(("Warning", "DNSConfigForming", "Search Line limits were exceeded, some search paths have "
                       f"been omitted, the applied search line is: {' '.join(searches)}"))
    return cfg, events


def _fit_searches(searches: list[str]) -> list[str]:
    out = searches[:MAX_SEARCH_PATHS]
    while out and len(" ".join(out)) > MAX_SEARCH_CHARS:
        out = out[:-1]
    return out


def resolv_conf(cfg: DNSConfig) -> str:
    """The file as containerd writes it from the CRI DNS config."""
    lines = []
    if cfg.searches:
        lines.append("search " + " ".join(cfg.searches))
    lines.extend(f"nameserver {s}" for s in cfg.nameservers)
    if cfg.options:
        lines.append("options " + " ".join(cfg.options))
    return "".join(line + "\n" for line in lines)


def write_pod_files(pod_dir: Path, pod: Obj, pod_ips: list[str],
                    cluster_dns: list[str]) -> list[tuple[str, str, str]]:
    """Write ``<pod dir>/etc-hosts`` and ``<pod dir>/resolv.conf``; returns the events to record. Raises
    OSError."""
    cfg, events = pod_dns(pod, cluster_dns)
    pod_dir.mkdir(parents=True, exist_ok=True)
    for name, text in ((HOSTS_FILE, hosts_file(pod, pod_ips)), (RESOLV_FILE, resolv_conf(cfg))):
        tmp = pod_dir / f".{name}.tmp"
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, pod_dir / name)
    return events
