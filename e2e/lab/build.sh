#!/usr/bin/env bash
# Builds (or finds in the cache) every binary the lab runs, at the versions pinned in versions.env.
# Binaries land in $LAB_CACHE/bin/<name>-<version>/ outside the repository, so a second run is instant.
#
#   build.sh all          everything the control-plane lab needs
#   build.sh <component>  one of: kubernetes etcd helm csi-sanity moto
#   build.sh path <name>  print the cached path of a binary (kube-apiserver, etcd, moto_server, ...)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

say() { printf '[lab-build] %s\n' "$*" >&2; }
# shellcheck source=build-steps.sh
. "$here/build-steps.sh"
use_lab_go

# Kubernetes staging modules: k8s.io/kubernetes points them at ./staging, so a wrapper module must
# replace each with its published version. The list is read from kubernetes' own go.mod at build time.
k8s_dir() { echo "$LAB_CACHE/bin/kubernetes-$KUBERNETES_VERSION"; }

build_kubernetes() {
  local out; out=$(k8s_dir)
  local wanted=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)
  local missing=0 b
  for b in "${wanted[@]}"; do [ -x "$out/$b" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  say "building Kubernetes $KUBERNETES_VERSION (${wanted[*]}) from the Go module proxy; the first build takes 5-10 minutes on 2 cores"
  local work="$LAB_CACHE/src/kubernetes-$KUBERNETES_VERSION"
  rm -rf "$work" && mkdir -p "$work" "$out"
  quietly kubernetes k8s_build "$work" "$out" "${wanted[@]}"
  say "Kubernetes binaries ready in $out"
}

k8s_build() { # work-dir out-dir binaries...
  local work=$1 out=$2; shift 2
  local wanted=("$@")
  (
    cd "$work"
    go mod init lab.local/kubernetes >/dev/null 2>&1
    local gomod minor
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
    local staging
    staging=$(awk '/^[[:space:]]*k8s\.io\/[a-z0-9-]+ v0\.0\.0$/ {print $1}' "$gomod" | sort -u)
    [ -n "$staging" ] || { say "no staging modules found in $gomod"; exit 1; }
    local m
    for m in $staging; do
      go mod edit -replace "$m=$m@v0.$minor.${KUBERNETES_VERSION##*.}"
    done
    # kubernetes' go.mod may carry godebug settings the binaries rely on.
    grep -E '^godebug ' "$gomod" >>go.mod || true
    local pkg
    {
      echo 'package tools'
      echo 'import ('
      for b in "${wanted[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b\""; done
      echo ')'
    } >tools.go
    sed -i '1s/^/\/\/go:build tools\n\n/' tools.go
    go get "k8s.io/kubernetes@$KUBERNETES_VERSION"
    go mod tidy || true
    local ver=$KUBERNETES_VERSION
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$ver -X k8s.io/component-base/version.gitMajor=1"
    ld+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$ver -X k8s.io/client-go/pkg/version.gitMajor=1"
    ld+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    local pkgs=()
    for pkg in "${wanted[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$pkg"); done
    go build -trimpath -ldflags "$ld" -o "$out/" "${pkgs[@]}"
  )
}

build_etcd() {
  local out="$LAB_CACHE/bin/etcd-$ETCD_VERSION"
  [ -x "$out/etcd" ] && return 0
  say "building etcd $ETCD_VERSION from the Go module proxy"
  local work="$LAB_CACHE/src/etcd-$ETCD_VERSION"
  rm -rf "$work" && mkdir -p "$work" "$out"
  quietly etcd bash -c "cd '$work' && go mod init lab.local/etcd && go get 'go.etcd.io/etcd/server/v3@$ETCD_VERSION' \
    && go build -trimpath -ldflags '-s -w' -o '$out/etcd' go.etcd.io/etcd/server/v3"
}

# Built as helm's own release Makefile builds it: without its ldflags, helm reports version
# "v3.x-unreleased" and assumes Kubernetes v1.20 for `helm template` and `helm lint`, so charts with
# a kubeVersion constraint are refused. The Kubernetes version is the one its client-go names.
build_helm() {
  local out; out=$(dirname "$(path_of helm)")
  [ -x "$out/helm" ] && return 0
  say "building helm $HELM_VERSION from the Go module proxy"
  mkdir -p "$out"
  local dir client_go major minor
  quietly helm-download go mod download "helm.sh/helm/v3@$HELM_VERSION" || return 1
  dir=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  client_go=$(awk '$1 == "k8s.io/client-go" {print $2}' "$dir/go.mod")
  [ -n "$client_go" ] || { say "no k8s.io/client-go in helm's go.mod ($dir/go.mod)"; return 1; }
  major=${client_go#v}; major=$((${major%%.*} + 1))
  minor=${client_go#v*.}; minor=${minor%%.*}
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ld+=" -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  ld+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
  ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"
  GOBIN="$out" quietly helm go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_csi_sanity() {
  local out="$LAB_CACHE/bin/csi-sanity-$CSI_TEST_VERSION"
  [ -x "$out/csi-sanity" ] && return 0
  say "building csi-sanity $CSI_TEST_VERSION from the Go module proxy"
  mkdir -p "$out"
  GOBIN="$out" quietly csi-sanity go install -trimpath -ldflags "-s -w" \
    "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSI_TEST_VERSION"
}

# The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule), from its Go module, for the
# charts' monitoring tests. Downloaded here, outside the real node's network namespace, where the
# tests themselves cannot reach the module proxy.
build_prometheus_crds() {
  [ -f "$(path_of prometheus-operator-crds)/monitoring.coreos.com_servicemonitors.yaml" ] && return 0
  say "fetching the Prometheus Operator's CRDs ($PROMETHEUS_OPERATOR_VERSION) from the Go module proxy"
  quietly prometheus-operator go mod download "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
}

build_moto() {
  local venv="$LAB_CACHE/venv/moto-$MOTO_VERSION"
  [ -x "$venv/bin/moto_server" ] && return 0
  say "installing moto $MOTO_VERSION from PyPI into a venv"
  rm -rf "$venv"
  quietly moto bash -c "python3 -m venv '$venv' && '$venv/bin/pip' install --no-input 'moto[server]==$MOTO_VERSION'" || {
    rm -rf "$venv"
    return 1
  }
}

# The real node's runtime from Debian: containerd, runc, the CNI plugins, and busybox for the
# lab's small images. Installed when missing (the lab runs as root).
build_node() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  { [ -x /usr/bin/busybox ] && /usr/bin/busybox --list >/dev/null 2>&1; } || missing+=(busybox-static)
  [ ${#missing[@]} -eq 0 ] && return 0
  debian_install "${missing[@]}"
}

path_of() {
  case "$1" in
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet) echo "$(k8s_dir)/$1" ;;
    etcd) echo "$LAB_CACHE/bin/etcd-$ETCD_VERSION/etcd" ;;
    # "-release": built with the release ldflags (earlier caches held a helm built without them).
    helm) echo "$LAB_CACHE/bin/helm-$HELM_VERSION-release/helm" ;;
    csi-sanity) echo "$LAB_CACHE/bin/csi-sanity-$CSI_TEST_VERSION/csi-sanity" ;;
    prometheus-operator-crds) echo "$GOMODCACHE/github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION/example/prometheus-operator-crd" ;;
    moto_server) echo "$LAB_CACHE/venv/moto-$MOTO_VERSION/bin/moto_server" ;;
    *) say "unknown binary $1"; return 1 ;;
  esac
}

case "${1:-all}" in
  all) build_moto; build_etcd; build_helm; build_csi_sanity; build_kubernetes; build_prometheus_crds ;;
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  helm) build_helm ;;
  csi-sanity) build_csi_sanity ;;
  moto) build_moto ;;
  node) build_node ;;
  path) path_of "$2" ;;
  *) say "usage: build.sh all|kubernetes|etcd|helm|csi-sanity|moto|node|path <name>"; exit 2 ;;
esac
