"""Content negotiation: request bodies in, JSON/YAML/Table out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from starlette.requests import Request

from . import errors

MAX_BODY = 3 * 1024 * 1024
ACCEPTED_BODY_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]


@dataclass(frozen=True, slots=True)
class Output:
    media: str  # "json" | "yaml" | "table"
    include_object: str = "Metadata"
    table_version: str = "v1"


def parse_accept(header: str, include_object: str | None = None) -> Output:
    """The first acceptable entry of the Accept header wins, as upstream's negotiator does."""
    if include_object not in (None, "", "None", "Metadata", "Object"):
        raise errors.bad_request(f'includeObject: Unsupported value: "{include_object}": supported values: '
                                 '"Metadata", "None", "Object"')
    if not header:
        return Output("json")
    for entry in header.split(","):
        parts = [p.strip() for p in entry.split(";")]
        media = parts[0].lower()
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if params.get("as") == "Table":
            if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                return Output("table", include_object or "Metadata", params["v"])
            continue
        if params.get("as"):
            continue  # PartialObjectMetadata etc.: not offered yet, try the next entry
        if media in ("application/json", "application/*", "*/*", "*"):
            return Output("json")
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return Output("yaml")
    raise errors.not_acceptable(["application/json", "application/yaml"])


async def read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large(MAX_BODY)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(body: bytes, content_type: str) -> Any:
    """JSON (also with no Content-Type, as the Python client sends) or YAML. Malformed -> 400."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("", "application/json", "*/*"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            if media == "" and body.lstrip()[:1] not in (b"{", b"["):
                return _yaml(body)
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None
    if media in ("application/yaml", "application/x-yaml", "text/yaml"):
        return _yaml(body)
    raise errors.unsupported_media_type(content_type, ACCEPTED_BODY_TYPES)


def _yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error converting YAML to JSON: {e}") from None


def render(obj: Any, media: str) -> tuple[bytes, str]:
    if media == "yaml":
        return yaml.safe_dump(obj, sort_keys=False).encode(), "application/yaml"
    return orjson.dumps(obj), "application/json"
