"""Label and field selectors: parsing the query-string forms and matching objects.

Shared by the API server (list/watch filtering) and by controllers (LabelSelector objects).
Errors are ``SelectorError`` with upstream's wording; the API server turns them into 400 BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in ("=", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if self.key not in labels:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if op == "gt" else have < want


LabelSelector = tuple[Requirement, ...]

_TOKEN = re.compile(r"\s*(!=|==|=|!|,|\(|\)|[^\s!=,()]+)")
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SelectorError(f"unable to parse requirement: unexpected input at {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _check_key(key: str) -> None:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(
            f"unable to parse requirement: invalid label key \"{key}\": name part must consist of alphanumeric "
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise SelectorError(
            f"unable to parse requirement: invalid label value: \"{value}\": at key: : a valid label must be an "
            "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation "
            "is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )


def parse_label_selector(text: str) -> LabelSelector:
    """``a=b,c!=d,e in (x,y),f notin (z),g,!h`` (and ``==``, ``gt``/``lt`` as upstream's parser)."""
    toks = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def expect_value(j: int) -> str:
        if j >= len(toks) or toks[j] in (",", "(", ")", "=", "==", "!=", "!"):
            return ""
        return toks[j]

    while i < len(toks):
        tok = toks[i]
        if tok == "!":
            if i + 1 >= len(toks):
                raise SelectorError("found '', expected: identifier")
            key = toks[i + 1]
            _check_key(key)
            reqs.append(Requirement(key, "!"))
            i += 2
        else:
            key = tok
            if key in (",", "(", ")", "=", "==", "!="):
                raise SelectorError(f"found '{key}', expected: !, identifier, or 'end of string'")
            _check_key(key)
            nxt = toks[i + 1] if i + 1 < len(toks) else ","
            if nxt == ",":
                reqs.append(Requirement(key, "exists"))
                i += 1
            elif nxt in ("=", "==", "!="):
                value = expect_value(i + 2)
                _check_value(value)
                reqs.append(Requirement(key, "!=" if nxt == "!=" else "=", (value,)))
                i += 3 if value else 2
            elif nxt in ("in", "notin"):
                if i + 2 >= len(toks) or toks[i + 2] != "(":
                    raise SelectorError(f"found '{toks[i + 2] if i + 2 < len(toks) else ''}', expected: '('")
                j = i + 3
                values: list[str] = []
                while j < len(toks) and toks[j] != ")":
                    if toks[j] != ",":
                        _check_value(toks[j])
                        values.append(toks[j])
                    j += 1
                if j >= len(toks):
                    raise SelectorError("found '', expected: ')'")
                if not values and nxt == "in":
                    values.append("")
                reqs.append(Requirement(key, nxt, tuple(values)))
                i = j + 1
            elif nxt in ("gt", "lt"):
                value = expect_value(i + 2)
                if not value.lstrip("-").isdigit():
                    raise SelectorError(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                                        f"must be an integer: {value}")
                reqs.append(Requirement(key, nxt, (value,)))
                i += 3
            else:
                raise SelectorError(f"found '{nxt}', expected: in, notin, =, ==, !=, gt, lt, or ','")
        if i < len(toks):
            if toks[i] != ",":
                raise SelectorError(f"found '{toks[i]}', expected: ',' or 'end of string'")
            i += 1
    return tuple(reqs)


def labels_match(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in selector)


def selector_from_object(sel: Mapping[str, Any] | None) -> LabelSelector | None:
    """A metav1.LabelSelector dict -> requirements. None selects nothing; {} selects everything."""
    if sel is None:
        return None
    reqs = [Requirement(k, "=", (v,)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""))
        if op is None:
            raise SelectorError(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return tuple(reqs)


def selector_to_string(selector: LabelSelector) -> str:
    parts = []
    for r in selector:
        if r.op == "exists":
            parts.append(r.key)
        elif r.op == "!":
            parts.append("!" + r.key)
        elif r.op in ("=", "!="):
            parts.append(f"{r.key}{r.op}{r.values[0]}")
        else:
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
    return ",".join(parts)


# --- field selectors ---------------------------------------------------------------------------

FieldSelector = tuple[tuple[str, str, str], ...]  # (field, "=" | "!=", value)


def parse_field_selector(text: str) -> FieldSelector:
    out: list[tuple[str, str, str]] = []
    for part in _split_unescaped(text.strip()):
        if not part:
            continue
        for op in ("!=", "==", "="):
            idx = part.find(op)
            if idx > 0:
                out.append((part[:idx].strip(), "!=" if op == "!=" else "=", _unescape(part[idx + len(op):])))
                break
        else:
            raise SelectorError(f"invalid selector: '{part}'; can't understand '{part}'")
    return tuple(out)


def _split_unescaped(text: str) -> list[str]:
    parts, cur, esc = [], "", False
    for ch in text:
        if esc:
            cur += "\\" + ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def fields_match(selector: FieldSelector, attrs: Mapping[str, str]) -> bool:
    for field, op, value in selector:
        have = attrs.get(field, "")
        if (have == value) != (op == "="):
            return False
    return True


def check_fields(selector: FieldSelector, known: Callable[[str], bool]) -> None:
    for field, _, _ in selector:
        if not known(field):
            raise SelectorError(f'field label not supported: {field}')
