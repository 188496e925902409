"""String-format checks with upstream's exact messages (k8s.io/apimachinery/pkg/util/validation and
pkg/api/validate/content). Each returns a list of messages, empty when the value is valid."""

from __future__ import annotations

import re

__all__ = ["dns1123_label", "dns1123_subdomain", "dns1035_label", "qualified_name", "label_value",
           "config_map_key", "path_segment_name", "port_name", "percent", "name_is_dns_subdomain",
           "name_is_dns_label", "name_is_path_segment", "name_is_dns1035_label", "regex_error", "max_len_error",
           "inclusive_range_error", "DNS1123_LABEL_FMT", "DNS1123_SUBDOMAIN_FMT"]

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-',"
                      " and must start and end with an alphanumeric character")
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters,"
                          " '-' or '.', and must start and end with an alphanumeric character")
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an"
                " alphabetic character, and end with an alphanumeric character")
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an"
                  " alphanumeric character")
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or"
                    " '.', and must start and end with an alphanumeric character")
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_PERCENT_FMT = "[0-9]+%"
_PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"

_LABEL_RE = re.compile(f"^{DNS1123_LABEL_FMT}$")
_SUBDOMAIN_RE = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_RE = re.compile(f"^{_DNS1035_FMT}$")
_LABEL_KEY_RE = re.compile(f"^{_LABEL_KEY_FMT}$")
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY_FMT}$")
_PERCENT_RE = re.compile(f"^{_PERCENT_FMT}$")
_PORT_CHARS_RE = re.compile("^[-a-z0-9]+$")


def _full(rx: re.Pattern[str], value: str) -> bool:
    # Go's $ does not accept a trailing newline; Python's does
    return rx.match(value) is not None and not value.endswith("\n")


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, example in enumerate(examples):
        out += (" or " if i else "") + f"'{example}', "  # upstream's spacing: "'a',  or 'b', "
    return out + f"regex used for validation is '{fmt}')"


def max_len_error(n: int, unit: str = "characters") -> str:
    return f"must be no more than {n} {unit}"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def _blen(value: str) -> int:
    return len(value.encode())


def dns1123_label(value: str) -> list[str]:
    errs = []
    if _blen(value) > 63:
        errs.append(max_len_error(63))
    if not _full(_LABEL_RE, value):
        if _full(_SUBDOMAIN_RE, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if _blen(value) > 253:
        errs.append(max_len_error(253))
    if not _full(_SUBDOMAIN_RE, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    errs = []
    if _blen(value) > 63:
        errs.append(max_len_error(63))
    if not _full(_DNS1035_RE, value):
        errs.append(regex_error(_DNS1035_MSG, _DNS1035_FMT, "my-name", "abc-123"))
    return errs


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName / IsLabelKey: ``[prefix/]name`` with a DNS-subdomain prefix."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return ["a valid label key " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif _blen(name) > 63:
        errs.append("name part " + max_len_error(63, "bytes"))
    if not _full(_LABEL_KEY_RE, name):
        errs.append("name part " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    errs = []
    if _blen(value) > 63:
        errs.append(max_len_error(63, "bytes"))
    if not _full(_LABEL_VALUE_RE, value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _chdir(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def config_map_key(value: str) -> list[str]:
    errs = []
    if _blen(value) > 253:
        errs.append(max_len_error(253))
    if not _full(_CONFIG_KEY_RE, value):
        errs.append(regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir(value)


def path_segment_name(value: str, prefix: bool = False) -> list[str]:
    if not prefix and value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def port_name(value: str) -> list[str]:
    errs = []
    if len(value) > 15:
        errs.append(max_len_error(15))
    if not _full(_PORT_CHARS_RE, value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def percent(value: str) -> list[str]:
    return [] if _full(_PERCENT_RE, value) else [regex_error(_PERCENT_MSG, _PERCENT_FMT, "1%", "93%")]


def _mask(name: str) -> str:
    # upstream's maskTrailingDash (which replaces the last two characters)
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return dns1123_subdomain(_mask(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return dns1123_label(_mask(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return dns1035_label(_mask(name) if prefix else name)


def name_is_path_segment(name: str, prefix: bool = False) -> list[str]:
    return path_segment_name(name, prefix)
