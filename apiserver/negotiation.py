"""Content negotiation: request bodies in, JSON/YAML/Table out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from starlette.requests import Request

from . import errors, protobuf

MAX_BODY = 3 * 1024 * 1024
PROTOBUF = "application/vnd.kubernetes.protobuf"
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
        if media == PROTOBUF:
            return Output("protobuf")
        if media in ("application/json", "application/*", "*/*", "*"):
            return Output("json")
        if media in ("application/yaml", "application/x-yaml", "text/yaml"):
            return Output("yaml")
    raise errors.not_acceptable(["application/json", "application/yaml", PROTOBUF])


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


def decode_body(body: bytes, content_type: str, *, group: str = "", version: str = "", kind: str = "",
                protobuf_ok: bool = False) -> Any:
    """JSON (also with no Content-Type, as the Python client sends), YAML, or (for built-in kinds)
    Kubernetes protobuf. Malformed -> 400."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == PROTOBUF and protobuf_ok:
        try:
            return protobuf.decode_object(body, group=group, version=version, expected_kind=kind)
        except protobuf.ProtobufError as e:
            raise errors.bad_request(f"the body of the request could not be decoded as protobuf: {e}") from None
    if media in ("", "application/json", "*/*"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            if media == "" and body.lstrip()[:1] not in (b"{", b"["):
                return _yaml(body)
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None
    if media in ("application/yaml", "application/x-yaml", "text/yaml"):
        return _yaml(body)
    raise errors.unsupported_media_type(content_type, ACCEPTED_BODY_TYPES if protobuf_ok
                                        else ACCEPTED_BODY_TYPES[:2])


def _gvk(obj: dict[str, Any]) -> tuple[str, str, str]:
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    return group, version, str(obj.get("kind", ""))


def _yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error converting YAML to JSON: {e}") from None


def render(obj: Any, media: str) -> tuple[bytes, str]:
    if media == "protobuf" and isinstance(obj, dict):
        try:
            if protobuf.message_for_kind(*_gvk(obj)) is not None:
                return protobuf.encode_object(obj), PROTOBUF
        except protobuf.ProtobufError:
            pass  # no protobuf form (e.g. a custom resource): answer JSON, which every client accepts
    if media == "yaml":
        return yaml.safe_dump(obj, sort_keys=False).encode(), "application/yaml"
    return orjson.dumps(obj), "application/json"
