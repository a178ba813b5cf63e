#!/usr/bin/env bash
# Checks, before anything is built or started, that this machine has what `make demo`, `make test`
# and `make lab-up` need, and says in one line per missing piece what to install (Debian package
# names). Exit 1 when something is missing.
#
#   preflight.sh [host|node]   node: also what the real node needs (make test, make lab-up NODE=1)
set -uo pipefail

mode=${1:-host}
missing=0
need() { # message
  printf '[preflight] %s\n' "$*" >&2
  missing=1
}

[ "$(id -u)" = 0 ] || need "run as root: the driver mounts tmpfs volumes and the lab starts a kubelet and containerd"

if ! command -v go >/dev/null; then
  need "Go 1.24 or newer is missing (the lab builds Kubernetes, etcd, helm and csi-sanity from the Go module proxy): install it from go.dev/dl or Debian's golang-go"
else
  v=$(go env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  read -r major minor <<<"${v:-0 0}"
  if [ "$major" -lt 1 ] || { [ "$major" = 1 ] && [ "$minor" -lt 24 ]; }; then
    need "Go $(go env GOVERSION) is too old: Kubernetes $(sed -n 's/^KUBERNETES_VERSION=//p' "$(dirname "$0")/versions.env") needs Go 1.24 or newer"
  fi
fi

if ! command -v python3 >/dev/null; then
  need "Python 3 is missing (the lab's AWS endpoint, moto, runs in a venv): apt-get install python3 python3-venv"
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need "Python's venv module is missing (the lab installs moto into a venv): apt-get install python3-venv"
fi

command -v openssl >/dev/null || need "openssl is missing (the lab makes its certificates with it): apt-get install openssl"
command -v curl >/dev/null || need "curl is missing (the lab checks its components' health with it): apt-get install curl"
command -v npm >/dev/null || command -v node >/dev/null ||
  need "npm is missing (it installs Node.js 24 and the project's dependencies): apt-get install npm"

if [ "$mode" = node ]; then
  command -v ip >/dev/null || need "the ip command is missing (the real node lives in a network namespace): apt-get install iproute2"
  command -v nsenter >/dev/null || need "nsenter is missing (the lab runs its processes in the node's network namespace): apt-get install util-linux"
  command -v apt-get >/dev/null || command -v containerd >/dev/null ||
    need "containerd is missing and there is no apt-get to install it: install containerd, runc, the CNI plugins and busybox-static"
fi

exit "$missing"
