"""API errors: one exception type carrying a ``metav1.Status``, rendered in one place (app.py).

Constructors mirror k8s.io/apimachinery/pkg/api/errors: same reasons, codes, details and message
wording, because clients (kubectl, client-go, the Python client) match on them.
"""

from __future__ import annotations

from typing import Any

from schemas.fielderrors import FieldError as FieldError

Obj = dict[str, Any]


class StatusError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None,
                 *, list_meta: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_meta = list_meta

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.list_meta or {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


# --- Status errors ---------------------------------------------------------------------------

def qualified(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(group: str, kind: str, name: str) -> Obj:
    d: Obj = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    return d


def not_found(group: str, resource: str, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{qualified(group, resource)} "{name}" not found',
                       _details(group, resource, name))


def already_exists(group: str, resource: str, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{qualified(group, resource)} "{name}" already exists',
                       _details(group, resource, name))


MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(group: str, resource: str, name: str, why: str = MODIFIED) -> StatusError:
    return StatusError(409, "Conflict",
                       f'Operation cannot be fulfilled on {qualified(group, resource)} "{name}": {why}',
                       _details(group, resource, name))


def invalid_object(group: str, kind: str, name: str, errs: list[FieldError]) -> StatusError:
    if len(errs) == 1:
        agg = errs[0].error()
    else:
        agg = "[" + ", ".join(e.error() for e in errs) + "]"
    details = _details(group, kind, name)
    details["causes"] = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errs]
    return StatusError(422, "Invalid", f'{kind}{"." + group if group else ""} "{name}" is invalid: {agg}', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def forbidden_error(group: str, resource: str, name: str, message: str) -> StatusError:
    who = qualified(group, resource)
    text = f'{who} "{name}" is forbidden: {message}' if name else f"{who} is forbidden: {message}"
    return StatusError(403, "Forbidden", text, _details(group, resource, name))


def method_not_allowed(method: str = "") -> StatusError:
    return StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {})


def not_acceptable(types: list[str]) -> StatusError:
    return StatusError(406, "NotAcceptable",
                       "only the following media types are accepted: " + ", ".join(types))


def unsupported_media_type(content_type: str, accepted: list[str]) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media types include: "
                       f"{', '.join(accepted)}")


def too_large(limit: int) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def expired(message: str, *, continue_token: str = "") -> StatusError:
    return StatusError(410, "Expired", message,
                       list_meta={"continue": continue_token} if continue_token else None)


def gone(message: str) -> StatusError:
    return StatusError(410, "Gone", message)


def timeout(message: str, retry_after: int = 1) -> StatusError:
    return StatusError(504, "Timeout", message, {"retryAfterSeconds": retry_after})


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}",
                       {"causes": [{"message": message}]})


def service_unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def not_found_path() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})
