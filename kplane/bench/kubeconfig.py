"""The server and credentials a kubeconfig names, for the benchmark's own HTTP client.

Only what a kubeconfig can carry inline or in files: client certificate and key, CA, bearer token (or
token file), basic auth. exec and auth-provider plugins are not supported. Proxy variables are ignored.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml


class BenchConfigError(Exception):
    """The kubeconfig (or the command line) can't be used."""


@dataclass(frozen=True)
class ClusterConfig:
    server: str
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    insecure: bool = False
    tls_server_name: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = None  # PEM
    key_data: bytes | None = None  # PEM
    token: str | None = None
    basic_auth: tuple[str, str] | None = None

    @property
    def tls(self) -> bool:
        return self.server.startswith("https://")

    @property
    def host(self) -> str:
        return urlsplit(self.server).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.server)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def path_prefix(self) -> str:
        """A server URL may carry a path (a proxy in front of the API server)."""
        return urlsplit(self.server).path.rstrip("/")

    def auth_header(self) -> str | None:
        if self.token:
            return f"Bearer {self.token}"
        if self.basic_auth:
            raw = f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None


def _named(items: Any, name: str, what: str, path: Path) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(what)
            return value if isinstance(value, dict) else {}
    raise BenchConfigError(f"{path}: no {what} named {name!r}")


def load_kubeconfig(path: str | os.PathLike[str], context: str | None = None) -> ClusterConfig:
    """The server and credentials of ``context`` (default: current-context) in a kubeconfig."""
    p = Path(path).expanduser()
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise BenchConfigError(f"cannot read kubeconfig {p}: {e}") from e
    if not isinstance(doc, dict):
        raise BenchConfigError(f"{p}: not a kubeconfig")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise BenchConfigError(f"{p}: no current-context; pass --context")
    ctx = _named(doc.get("contexts"), ctx_name, "context", p)
    if not ctx.get("cluster"):
        raise BenchConfigError(f"{p}: context {ctx_name!r} names no cluster")
    cluster = _named(doc.get("clusters"), ctx["cluster"], "cluster", p)
    user = _named(doc.get("users"), ctx["user"], "user", p) if ctx.get("user") else {}

    def local(file: str | None) -> str | None:
        # relative paths in a kubeconfig are relative to the kubeconfig's directory
        return None if not file else str((p.parent / os.path.expanduser(file)).resolve())

    def b64(value: str | None) -> bytes | None:
        return None if not value else base64.b64decode(value)

    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise BenchConfigError(f"{p}: cluster {ctx['cluster']!r} has no http(s) server URL")
    if user.get("exec") or user.get("auth-provider"):
        raise BenchConfigError(f"{p}: user {ctx.get('user')!r}: exec/auth-provider credentials are not supported")
    ca_data = b64(cluster.get("certificate-authority-data"))
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_path = local(user["tokenFile"])
        assert token_path is not None
        token = Path(token_path).read_text().strip()
    basic = (str(user["username"]), str(user.get("password", ""))) if user.get("username") else None
    return ClusterConfig(
        server=server.rstrip("/"),
        ca_file=local(cluster.get("certificate-authority")),
        ca_data=ca_data.decode() if ca_data else None,
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
        cert_file=local(user.get("client-certificate")),
        key_file=local(user.get("client-key")),
        cert_data=b64(user.get("client-certificate-data")),
        key_data=b64(user.get("client-key-data")),
        token=token,
        basic_auth=basic,
    )


def ssl_context(cfg: ClusterConfig) -> ssl.SSLContext:
    """TLS settings as the kubeconfig gives them; HTTP/1.1 offered by ALPN."""
    if cfg.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.ca_file or cfg.ca_data:
        ctx = ssl.create_default_context(cafile=cfg.ca_file, cadata=cfg.ca_data)
    else:
        ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])
    cert = cfg.cert_data is not None or cfg.cert_file is not None
    key = cfg.key_data is not None or cfg.key_file is not None
    if cert != key:
        raise BenchConfigError("kubeconfig user has a client certificate without a key, or a key without one")
    if cert:
        # load_cert_chain only reads files: write inline data to a private temp dir briefly
        with tempfile.TemporaryDirectory(prefix="kplane-bench-") as tmp:
            cert_file, key_file = cfg.cert_file, cfg.key_file
            if cfg.cert_data is not None:
                cert_file = os.path.join(tmp, "client.crt")
                Path(cert_file).write_bytes(cfg.cert_data)
            if cfg.key_data is not None:
                key_file = os.path.join(tmp, "client.key")
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(cfg.key_data)
            assert cert_file is not None and key_file is not None
            ctx.load_cert_chain(cert_file, key_file)
    return ctx
