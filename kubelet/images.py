"""The image catalog of the ``process`` runtime: there is no registry, an image is a name for host programs.

An image reference is normalised (``busybox`` -> ``docker.io/library/busybox:latest``) and looked up by
repository; unless an entry names tags, every tag of a repository resolves the same way. An entry gives
the image's ENTRYPOINT and CMD, which combine with the container's ``command``/``args`` as upstream's
runtimes do: ``command`` replaces the ENTRYPOINT (and drops CMD), ``args`` replace CMD.

Built in:

=======================================================  ==========================================
``busybox``, ``alpine``                                  CMD ``sh`` (the host's sh and coreutils; the
                                                         host's ``busybox`` when installed)
``debian``, ``ubuntu``                                   CMD ``bash`` (``sh`` without bash)
``python`` (any tag)                                     CMD ``python3`` (the host's)
``nginx``                                                ``python3 -m http.server 80`` (all addresses)
``registry.k8s.io/pause``                                ENTRYPOINT ``sleep infinity``
``registry.k8s.io/e2e-test-images/agnhost``             ENTRYPOINT kplane's agnhost (kubelet/agnhost.py),
                                                         CMD ``pause``; ``/agnhost`` in a command is it too
``registry.k8s.io/e2e-test-images/busybox``             as ``busybox``
=======================================================  ==========================================

More images come from ``<kubelet data dir>/images.json`` (re-read when it changes)::

    {"example.com/app:v1": {"entrypoint": ["/usr/bin/python3", "/srv/app.py"], "cmd": [], "sizeBytes": 1000},
     "example.com/tools": {"cmd": ["sh"]}}

A key without a tag matches every tag of the repository; with a tag, only that tag.

An image that resolves nowhere cannot be pulled (``ErrImagePull``), unless the container has a
``command``: the command names a host program, so the image is only recorded. Pulling is instant; an
image counts as present on the node once pulled (``IfNotPresent``), ``Always`` pulls every start.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runtime import normalize_image

log = logging.getLogger("kplane.kubelet.images")

AGNHOST = str(Path(__file__).with_name("agnhost.py"))


@dataclass(frozen=True)
class Image:
    """What running an image means here: its ENTRYPOINT and CMD (argv lists) and a nominal size."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    size: int = 1_000_000
    #: argv[0] spellings of the image's own binaries (``/agnhost``) -> the host argv that stands for them
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _shell() -> tuple[str, ...]:
    return ("busybox", "sh") if shutil.which("busybox") else ("sh",)


def _bash() -> tuple[str, ...]:
    return ("bash",) if shutil.which("bash") else ("sh",)


def builtin() -> dict[str, Image]:
    """Repository (normalised, no tag) -> image."""
    python = sys.executable or "python3"
    agnhost = (python, AGNHOST)
    shell = Image(cmd=_shell(), size=2_155_000)
    return {
        "docker.io/library/busybox": shell,
        "registry.k8s.io/e2e-test-images/busybox": shell,
        "docker.io/library/alpine": Image(cmd=_shell(), size=3_650_000),
        "docker.io/library/debian": Image(cmd=_bash(), size=48_500_000),
        "docker.io/library/ubuntu": Image(cmd=_bash(), size=29_700_000),
        "docker.io/library/python": Image(cmd=("python3",), size=51_000_000),
        "docker.io/library/nginx": Image(entrypoint=(python, "-m", "http.server", "80"), size=72_000_000),
        "registry.k8s.io/pause": Image(entrypoint=("sleep", "infinity"), size=320_000,
                                       aliases=(("/pause", ("sleep", "infinity")),)),
        "registry.k8s.io/e2e-test-images/agnhost": Image(entrypoint=agnhost, cmd=("pause",), size=51_200_000,
                                                         aliases=(("/agnhost", agnhost), ("agnhost", agnhost))),
    }


def split(reference: str) -> tuple[str, str]:
    """A normalised reference -> (repository, tag or digest)."""
    if "@" in reference:
        repo, _, digest = reference.partition("@")
        return repo, digest
    repo, _, tag = reference.rpartition(":")
    return repo, tag


class Catalog:
    """The images a node can "pull": the built-ins plus ``images.json`` in the kubelet's data dir."""

    def __init__(self, data_dir: Path | None) -> None:
        self.file = data_dir / "images.json" if data_dir is not None else None
        self._builtin = builtin()
        self._extra: dict[str, Image] = {}
        self._stamp: tuple[float, int] | None = None
        #: normalised references pulled on this node (IfNotPresent finds them present)
        self.present: set[str] = set()

    def _reload(self) -> None:
        if self.file is None:
            return
        try:
            st = self.file.stat()
        except OSError:
            self._extra, self._stamp = {}, None
            return
        if self._stamp == (st.st_mtime, st.st_size):
            return
        self._stamp = (st.st_mtime, st.st_size)
        try:
            raw = json.loads(self.file.read_text())
            self._extra = {normalize_image(k) if ":" in k.rsplit("/", 1)[-1] or "@" in k else
                           split(normalize_image(k))[0]: _entry(v) for k, v in raw.items()}
        except (OSError, ValueError, TypeError, AttributeError) as e:
            log.warning("ignoring %s: %s", self.file, e)
            self._extra = {}

    def lookup(self, image: str) -> Image | None:
        """The image a reference resolves to, or None (not in the catalog)."""
        self._reload()
        ref = normalize_image(image)
        repo, _ = split(ref)
        for key in (ref, repo):
            if key in self._extra:
                return self._extra[key]
        return self._builtin.get(repo)


def _entry(value: Any) -> Image:
    if not isinstance(value, dict):
        raise TypeError(f"an image must be an object, not {type(value).__name__}")

    def argv(key: str) -> tuple[str, ...]:
        v = value.get(key) or []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise TypeError(f"{key} must be a list of strings")
        return tuple(v)

    return Image(entrypoint=argv("entrypoint"), cmd=argv("cmd"), size=int(value.get("sizeBytes") or 1_000_000))


def container_argv(image: Image | None, command: list[str], args: list[str]) -> list[str]:
    """The process to run, from the image's ENTRYPOINT/CMD and the container's (expanded) command/args."""
    if command:
        argv = command + args
    elif image is None:
        argv = list(args)
    else:
        argv = list(image.entrypoint) + (args or list(image.cmd))
    if argv and image is not None:
        for alias, real in image.aliases:
            if argv[0] == alias:
                return list(real) + argv[1:]
    return argv


def not_found(image: str) -> str:
    """containerd's error for a reference that does not resolve."""
    ref = normalize_image(image)
    return (f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
            f'failed to resolve reference "{ref}": {ref}: not found')


def with_default_tag(image: str) -> str:
    """The image as the kubelet names it in events: ``busybox`` -> ``busybox:latest`` (not fully qualified)."""
    last = image.rsplit("/", 1)[-1]
    return image if "@" in image or ":" in last else f"{image}:latest"


_CATALOGS: dict[Path, Catalog] = {}


def catalog_for(data_dir: Path) -> Catalog:
    """One catalog per node data dir (the node's image store)."""
    cat = _CATALOGS.get(data_dir)
    if cat is None:
        cat = _CATALOGS[data_dir] = Catalog(data_dir)
    return cat


INITIAL_PULL_BACKOFF = 10.0
MAX_PULL_BACKOFF = 300.0
#: a failed pull shows ErrImagePull this long before ImagePullBackOff (upstream: until the pod's next sync)
ERR_SHOWN = 2.0


@dataclass
class PullBackoff:
    """One (pod, image) entry of the image pull back-off (upstream's flowcontrol.Backoff)."""

    period: float = 0.0
    updated: float = 0.0
    error: str = ""  # "ErrImagePull: <message>" of the last failure


@dataclass
class PullResult:
    ok: bool
    reason: str = ""  # ErrImagePull | ImagePullBackOff | ErrImageNeverPull
    message: str = ""
    events: tuple[tuple[str, str, str], ...] = ()  # (type, reason, message)
    retry_in: float | None = None  # seconds until a pull may be tried again


def ensure_image(catalog: Catalog, backoffs: dict[str, PullBackoff], container: dict[str, Any],
                 now: float) -> PullResult:
    """upstream's EnsureImageExists for one container start. ``backoffs`` is the pod's, by image."""
    spec_image = str(container.get("image") or "")
    image = with_default_tag(spec_image)
    ref = normalize_image(spec_image)
    policy = container.get("imagePullPolicy") or "IfNotPresent"
    found = catalog.lookup(spec_image)
    resolvable = found is not None or bool(container.get("command"))
    if policy == "Never" and not resolvable:
        msg = f'Container image "{image}" is not present with pull policy of Never'
        return PullResult(False, "ErrImageNeverPull", msg,
                          (("Warning", "ErrImageNeverPull", msg), ("Warning", "Failed", "Error: ErrImageNeverPull")))
    if policy == "Never" or (policy == "IfNotPresent" and ref in catalog.present):
        catalog.present.add(ref)  # Never: a catalog image is on the machine without a pull
        return PullResult(True, events=(("Normal", "Pulled", f'Container image "{image}" already present on machine'),))
    entry = backoffs.get(image)
    if entry is not None and entry.period and now - entry.updated < ERR_SHOWN:
        return PullResult(False, "ErrImagePull", entry.error.removeprefix("ErrImagePull: "),
                          retry_in=ERR_SHOWN - (now - entry.updated))
    if entry is not None and entry.period and now - entry.updated < entry.period:
        msg = f'Back-off pulling image "{image}"'
        return PullResult(False, "ImagePullBackOff", f"{msg}: {entry.error}" if entry.error else msg,
                          (("Normal", "BackOff", msg), ("Warning", "Failed", "Error: ImagePullBackOff")),
                          retry_in=entry.period - (now - entry.updated))
    pulling = ("Normal", "Pulling", f'Pulling image "{image}"')
    if not resolvable:
        err = not_found(spec_image)
        if entry is None:
            entry = backoffs[image] = PullBackoff()
        expired = entry.period and now - entry.updated > 2 * MAX_PULL_BACKOFF
        entry.period = INITIAL_PULL_BACKOFF if not entry.period or expired else \
            min(entry.period * 2, MAX_PULL_BACKOFF)
        entry.updated = now
        entry.error = f"ErrImagePull: {err}"
        return PullResult(False, "ErrImagePull", err,
                          (pulling, ("Warning", "Failed", f'Failed to pull image "{image}": {err}'),
                           ("Warning", "Failed", "Error: ErrImagePull")), retry_in=ERR_SHOWN)
    backoffs.pop(image, None)
    catalog.present.add(ref)
    size = found.size if found is not None else 0
    return PullResult(True, events=(pulling, ("Normal", "Pulled", f'Successfully pulled image "{image}" in 1ms '
                                              f"(1ms including waiting). Image size: {size} bytes.")))
