"""The benchmark's HTTP client: the components' lean HTTP/1.1 client (:mod:`controllers.http`), with an
:class:`Endpoint` built from a benchmark kubeconfig (basic auth, tls-server-name, inline credentials)."""

from __future__ import annotations

from controllers.http import (
    JSON,
    MERGE_PATCH,
    STREAM_LIMIT,
    Connection,
    HTTPClientError,
    Response,
    WatchStream,
)
from controllers.http import Endpoint as _Endpoint

from .kubeconfig import ClusterConfig, ssl_context

__all__ = ["JSON", "MERGE_PATCH", "STREAM_LIMIT", "Connection", "Endpoint", "HTTPClientError", "Response",
           "WatchStream"]


class Endpoint(_Endpoint):
    def __init__(self, cfg: ClusterConfig, *, user_agent: str = "kplane-bench/1") -> None:
        super().__init__(cfg.server, ssl_context=ssl_context(cfg) if cfg.tls else None,
                         server_name=cfg.tls_server_name, authorization=cfg.auth_header(), user_agent=user_agent)
