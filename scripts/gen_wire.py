#!/usr/bin/env python3
"""Generate ``schemas/wire/k8s-wire.json.gz``: the protobuf wire schema of the Kubernetes API.

The table is a set of *facts* read from the public ``generated.proto`` files (field numbers, names,
labels, types) and from the Go type declarations next to them (JSON names, ``omitempty``, pointer-ness,
inlined embedded structs, registered kinds).  No upstream file is copied into this repository; only the
derived table is committed, and :mod:`apiserver.protobuf` reads it.

Regenerating
------------
Obtain snapshots of the four upstream repositories (a git clone, or any git directory holding the tag):

    https://github.com/kubernetes/api                      tag v0.37.0-beta.0 (newest 1.37 tag)
    https://github.com/kubernetes/apimachinery             tag v0.37.0-beta.0
    https://github.com/kubernetes/apiextensions-apiserver  tag v0.37.0-beta.0
    https://github.com/kubernetes/kube-aggregator          tag v0.37.0-alpha.2 (newest 1.37 tag there)

(After ``v0.37.0-beta.0`` upstream's master is 1.38 development: the 1.37 release branch starts at
beta.0, and later 1.37 patch tags only carry fixes. The committed table's ``sources`` records the refs
and commits it was read from.) Then run, from the project root, naming each source as ``GITDIR@REF`` (read with ``git show``, nothing
is checked out) or as a plain directory holding a checkout:

    python3 scripts/gen_wire.py \\
        --api /path/to/api.git@v0.37.0-beta.0 \\
        --apimachinery /path/to/apimachinery.git@v0.37.0-beta.0 \\
        --apiextensions /path/to/apiextensions-apiserver.git@v0.37.0-beta.0 \\
        --aggregator /path/to/kube-aggregator.git@v0.37.0-alpha.2

``--check`` compares the result with the committed file instead of writing it.

Table format (``format`` 1), one gzip-compressed JSON document:

    {"format": 1, "kubernetes": "1.37", "sources": {repo: "ref commit"},
     "groups": {"apps/v1": "k8s.io.api.apps.v1", "v1": "k8s.io.api.core.v1", ...},
     "kinds": {"apps/v1": ["ControllerRevision", "DaemonSet", ...], ...},
     "messages": {"k8s.io.api.core.v1.Pod": {"fields": [FIELD, ...]},
                  "k8s.io.api.authentication.v1.ExtraValue": {"fields": [...], "slice": true}, ...}}

    FIELD = [number, json_name, label, type, value_type, flags]            (+ proto_name when it differs)
      label       "o" optional, "r" repeated, "m" map (type = key type, value_type = value type)
      type        a scalar kind (string, bytes, bool, int32, int64, uint32, uint64, double, float, ...)
                  or a message's full name ("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta")
      flags       "p": the Go field is a pointer, slice or map (nil-able: Go writes it only when set)
                  "e": the JSON tag has omitempty
                  "z": the JSON tag has omitzero (Go 1.24: dropped when the value is its zero value)
                  "i": an embedded struct inlined into its parent's JSON object
                  "x": not part of the JSON form (json:"-")
                  "g": no Go declaration was found for the field (JSON name = proto name, nil-able)

A message with ``"slice": true`` is a Go slice type (``type ExtraValue []string``) whose proto form wraps
the elements in ``repeated ... items = 1``; its JSON form is the bare array.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "schemas" / "wire" / "k8s-wire.json.gz"
KUBERNETES = "1.37"

SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
           "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes"}

#: directories never read: test API groups
SKIP_DIRS = ("pkg/apis/testapigroup", "pkg/apis/meta/v1beta1/validation")


class Source:
    """One upstream repository, read either from a git directory at a ref or from a checkout."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        if "@" in spec:
            gitdir, ref = spec.rsplit("@", 1)
            self.gitdir: str | None = gitdir
            self.ref = ref
            self.commit = self._git("rev-parse", ref + "^{commit}").strip()
            self.root: Path | None = None
        else:
            self.gitdir = None
            self.root = Path(spec)
            self.ref = "checkout"
            try:
                self.commit = subprocess.run(["git", "-C", spec, "rev-parse", "HEAD"], check=True,
                                             capture_output=True, text=True).stdout.strip()
            except (OSError, subprocess.CalledProcessError):
                self.commit = "unknown"

    def _git(self, *args: str) -> str:
        assert self.gitdir is not None
        return subprocess.run(["git", "--git-dir", self.gitdir, *args], check=True, capture_output=True,
                              text=True).stdout

    def files(self) -> list[str]:
        if self.root is not None:
            return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())
        return self._git("ls-tree", "-r", "--name-only", self.ref).splitlines()

    def read(self, path: str) -> str:
        if self.root is not None:
            return (self.root / path).read_text()
        return self._git("show", f"{self.ref}:{path}")


# --- generated.proto --------------------------------------------------------------------------------

@dataclass
class ProtoField:
    number: int
    name: str
    label: str  # o, r, m
    type: str
    value_type: str = ""


@dataclass
class ProtoMessage:
    full_name: str
    fields: list[ProtoField] = field(default_factory=list)


_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_FIELD = re.compile(r"^(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(\[[^\]]*\])?\s*;$")
_MAP = re.compile(r"^map\s*<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*(\[[^\]]*\])?\s*;$")


def parse_proto(text: str) -> tuple[str, list[ProtoMessage], list[tuple[str, ProtoField]]]:
    """Package, messages and (message, field) pairs whose type still needs resolving."""
    text = _COMMENT.sub("", text)
    package = ""
    messages: list[ProtoMessage] = []
    stack: list[ProtoMessage] = []
    pending: list[tuple[str, ProtoField]] = []
    # statements end in ';', blocks open with '{' and close with '}'
    for tok in re.findall(r"[^;{}]*[;{}]", text):
        stmt = " ".join(tok.split())
        if not stmt:
            continue
        if stmt.endswith("{"):
            head = stmt[:-1].strip()
            m = re.match(r"^message\s+(\w+)$", head)
            if m:
                prefix = stack[-1].full_name if stack else package
                msg = ProtoMessage(f"{prefix}.{m.group(1)}")
                messages.append(msg)
                stack.append(msg)
            else:
                if head.split()[0] in ("oneof", "enum", "service", "extend"):
                    raise SystemExit(f"unsupported proto construct: {head}")
                stack.append(ProtoMessage("<block>"))
            continue
        if stmt == "}":
            stack.pop()
            continue
        body = stmt
        if body.startswith("package "):
            package = body[len("package "):-1].strip()
            continue
        if body.split()[0] in ("syntax", "import", "option") or not stack:
            continue
        msg = stack[-1]
        m = _FIELD.match(body)
        if m:
            label = {"optional": "o", "required": "o", "repeated": "r"}[m.group(1)]
            f = ProtoField(int(m.group(4)), m.group(3), label, m.group(2))
            if m.group(5) and "json_name" in m.group(5):
                raise SystemExit(f"json_name option not supported: {body}")
            msg.fields.append(f)
            pending.append((msg.full_name, f))
            continue
        m = _MAP.match(body)
        if m:
            f = ProtoField(int(m.group(4)), m.group(3), "m", m.group(1), m.group(2))
            msg.fields.append(f)
            pending.append((msg.full_name, f))
            continue
        raise SystemExit(f"cannot parse proto statement in {msg.full_name}: {body!r}")
    return package, messages, pending


def resolve(type_name: str, scope: str, known: set[str]) -> str:
    """Resolve a proto type reference the way protoc does (innermost scope outwards)."""
    if type_name in SCALARS:
        return type_name
    if type_name.startswith("."):
        full = type_name[1:]
        if full not in known:
            raise SystemExit(f"unknown message {type_name} referenced from {scope}")
        return full
    parts = scope.split(".")
    while parts:
        cand = ".".join(parts) + "." + type_name
        if cand in known:
            return cand
        parts.pop()
    if type_name in known:
        return type_name
    raise SystemExit(f"cannot resolve {type_name} from {scope}")


# --- Go declarations --------------------------------------------------------------------------------

@dataclass
class GoField:
    number: int
    json_name: str
    omitempty: bool
    omitzero: bool
    nilable: bool
    inline: bool
    skip: bool
    gotype: str = ""


_STRUCT = re.compile(r"^type\s+(\w+)\s+struct\s*\{\s*$")
_SLICE = re.compile(r"^type\s+(\w+)\s+\[\]([\w.*]+)\s*(//.*)?$")
_ALIAS = re.compile(r"^type\s+(\w+)\s+\w+\.(\w+)\s*(//.*)?$")
_TAGS = re.compile(r'(\w+):"([^"]*)"')


def parse_go(text: str) -> tuple[dict[str, dict[int, GoField]], set[str], dict[str, str]]:
    """Struct name -> {proto number: GoField}, the names of slice types, and named types defined as
    another package's type (``type List metav1.List``)."""
    structs: dict[str, dict[int, GoField]] = {}
    slices: set[str] = set()
    aliases: dict[str, str] = {}
    current: dict[int, GoField] | None = None
    current_name = ""
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if current is None:
            m = _STRUCT.match(raw)
            if m:
                current_name = m.group(1)
                current = structs.setdefault(current_name, {})
                depth = 1
                continue
            m = _SLICE.match(raw)
            if m:
                slices.add(m.group(1))
            m = _ALIAS.match(raw)
            if m:
                aliases[m.group(1)] = m.group(2)
            continue
        if line.startswith("//"):
            continue
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            current = None
            continue
        if "`" not in line or 'protobuf:"' not in line:
            continue
        decl, _, rest = line.partition("`")
        tags = dict(_TAGS.findall(rest.partition("`")[0]))
        proto = tags.get("protobuf", "")
        if proto == "-" or not proto:
            continue
        parts = proto.split(",")
        number = int(parts[1])
        words = decl.split()
        embedded = len(words) == 1
        gotype = words[-1]
        jtag = tags.get("json")
        jparts = (jtag or "").split(",")
        jname = jparts[0]
        skip = jname == "-" and len(jparts) == 1
        inline = embedded and (jtag is None or jname == "")
        if not jname and not embedded:
            jname = words[0]  # Go's default: the field name itself
        if skip:
            jname = ""
        nilable = gotype.startswith(("*", "[]", "map["))
        current[number] = GoField(number, jname, "omitempty" in jparts[1:], "omitzero" in jparts[1:], nilable,
                                  inline, skip, gotype)
    return structs, slices, aliases


# --- registered kinds -------------------------------------------------------------------------------

def parse_register(text: str) -> tuple[str | None, list[str]]:
    m = re.search(r'const\s+GroupName\s*=\s*"([^"]*)"', text)
    group = m.group(1) if m else None
    kinds: list[str] = []
    for block in re.findall(r"AddKnownTypes\(\s*SchemeGroupVersion\s*,(.*?)\)\s*\n", text, re.S):
        kinds.extend(re.findall(r"&(\w+)\{\}", block))
    return group, sorted(set(kinds))


# --- main ---------------------------------------------------------------------------------------------

def build(sources: dict[str, Source]) -> dict[str, Any]:
    messages: dict[str, ProtoMessage] = {}
    pending: list[tuple[str, ProtoField]] = []
    go_by_message: dict[str, dict[int, GoField]] = {}
    slice_messages: set[str] = set()
    alias_of: dict[str, str] = {}  # message -> short name of the Go type it is defined as
    all_slices: set[str] = set()  # Go slice type names (type Verbs []string): nil-able fields
    groups: dict[str, str] = {}
    kinds: dict[str, list[str]] = {}
    for src in sources.values():
        files = src.files()
        for path in files:
            if not path.endswith("/generated.proto") or path.startswith(SKIP_DIRS) or "/vendor/" in path:
                continue
            if "/testing/" in path or "/example" in path:
                continue
            directory = path.rsplit("/", 1)[0]
            package, msgs, pend = parse_proto(src.read(path))
            for msg in msgs:
                if msg.full_name in messages:
                    raise SystemExit(f"duplicate message {msg.full_name}")
                messages[msg.full_name] = msg
            pending.extend(pend)
            structs: dict[str, dict[int, GoField]] = {}
            slices: set[str] = set()
            aliases: dict[str, str] = {}
            for gofile in files:
                if (gofile.rsplit("/", 1)[0] != directory or not gofile.endswith(".go")
                        or gofile.endswith("_test.go") or gofile.rsplit("/", 1)[1].startswith(("zz_", "generated"))):
                    continue
                s, sl, al = parse_go(src.read(gofile))
                for k, v in s.items():
                    structs.setdefault(k, {}).update(v)
                slices |= sl
                aliases.update(al)
            all_slices |= slices
            for msg in msgs:
                short = msg.full_name[len(package) + 1:]
                if short in structs:
                    go_by_message[msg.full_name] = structs[short]
                if short in slices:
                    slice_messages.add(msg.full_name)
                if short not in structs and short in aliases:
                    alias_of[msg.full_name] = aliases[short]
            reg = directory + "/register.go"
            if reg in files:
                group, knd = parse_register(src.read(reg))
                version = directory.rsplit("/", 1)[1]
                if group is not None and re.fullmatch(r"v\d+((alpha|beta)\d+)?", version):
                    gv = f"{group}/{version}" if group else version
                    if group == "meta.k8s.io":
                        knd = sorted(set(knd) | {"Table", "TableOptions", "PartialObjectMetadata",
                                                  "PartialObjectMetadataList"})
                    groups[gv] = package
                    kinds[gv] = [k for k in knd if f"{package}.{k}" in messages]
    known = set(messages)
    for scope, f in pending:
        f.type = resolve(f.type, scope, known)
        if f.value_type:
            f.value_type = resolve(f.value_type, scope, known)

    def signature(name: str) -> list[tuple[int, str, str, str]]:
        return [(f.number, f.name, f.label, f.type.rsplit(".", 1)[-1]) for f in messages[name].fields]

    # ``type List metav1.List``: take the Go facts of the one same-shaped message of that name
    for name, target in alias_of.items():
        cands = [other for other in go_by_message if other.rsplit(".", 1)[-1] == target
                 and signature(other) == signature(name)]
        if cands and all(go_by_message[c] == go_by_message[cands[0]] for c in cands):
            go_by_message[name] = go_by_message[cands[0]]
        else:
            print(f"warning: no Go facts for {name} (defined as {target})", file=sys.stderr)

    out_messages: dict[str, Any] = {}
    for name in sorted(messages):
        msg = messages[name]
        go = go_by_message.get(name)
        rows: list[list[Any]] = []
        for f in msg.fields:
            gf = go.get(f.number) if go is not None else None
            if gf is None:
                flags = "gp"
                jname = f.name
            else:
                nilable = gf.nilable or gf.gotype.rsplit(".", 1)[-1] in all_slices
                flags = ("p" if nilable else "") + ("e" if gf.omitempty else "") + ("z" if gf.omitzero else "") + \
                        ("i" if gf.inline else "") + ("x" if gf.skip else "")
                jname = gf.json_name if not (gf.inline or gf.skip) else f.name
            row: list[Any] = [f.number, jname, f.label, f.type, f.value_type, flags]
            if jname != f.name:
                row.append(f.name)
            rows.append(row)
        entry: dict[str, Any] = {"fields": rows}
        if name in slice_messages:
            entry["slice"] = True
        out_messages[name] = entry
    return {
        "format": 1,
        "kubernetes": KUBERNETES,
        "sources": {k: f"{s.ref} {s.commit}" for k, s in sources.items()},
        "groups": dict(sorted(groups.items())),
        "kinds": dict(sorted(kinds.items())),
        "messages": out_messages,
    }


def serialize(table: dict[str, Any]) -> bytes:
    text = json.dumps(table, separators=(",", ":"), sort_keys=False).encode()
    return gzip.compress(text, compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", required=True, help="k8s.io/api: GITDIR@REF or a checkout")
    ap.add_argument("--apimachinery", required=True, help="k8s.io/apimachinery: GITDIR@REF or a checkout")
    ap.add_argument("--apiextensions", help="k8s.io/apiextensions-apiserver: GITDIR@REF or a checkout")
    ap.add_argument("--aggregator", help="k8s.io/kube-aggregator: GITDIR@REF or a checkout")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="only compare with the existing file")
    args = ap.parse_args(argv)
    sources = {"k8s.io/apimachinery": Source(args.apimachinery), "k8s.io/api": Source(args.api)}
    if args.apiextensions:
        sources["k8s.io/apiextensions-apiserver"] = Source(args.apiextensions)
    if args.aggregator:
        sources["k8s.io/kube-aggregator"] = Source(args.aggregator)
    table = build(sources)
    data = serialize(table)
    if args.check:
        same = args.out.exists() and gzip.decompress(args.out.read_bytes()) == gzip.decompress(data)
        print("up to date" if same else "differs", file=sys.stderr)
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(table['messages'])} messages, {len(data)} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
