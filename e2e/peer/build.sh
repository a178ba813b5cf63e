#!/usr/bin/env bash
# Builds what upstream's end-to-end suites need (e2e/peer/README.md), cached under the lab cache like
# the lab's other builds (e2e/lab/build.sh), so that a second run is instant:
#
#   build.sh programs   the upstream driver (sigs.k8s.io/secrets-store-csi-driver v1.6.0 from the Go
#                       module proxy), upstream's e2e mock provider (test/e2eprovider, -tags e2e) and
#                       upstream's AWS provider, both from the peer folder; each with the lab's
#                       stand-in for monis.app/mlog (e2e/peer/mlog), which the proxy refuses; and
#                       upstream's sync controller (secrets-store-sync-controller, ./cmd/main.go) from
#                       the peer folder as it is (its modules all come from the proxy)
#   build.sh images     OCI image tarballs of those four, of upstream's CRD image (its driver chart's
#                       hook jobs run it), and of busybox and curl, under the names the suites and
#                       charts use (imported into the real node's containerd by node-setup.sh)
#   build.sh tools      bats (Debian's package) and the aws CLI with boto3 (PyPI, in a venv)
#   build.sh all        all three
#   build.sh path <name>   the cached path of: driver, e2e-provider, provider-aws, sync-controller,
#                          aws-venv, images, driver-chart (upstream's driver chart, from the driver's
#                          module once the driver is built)
#
# The peer folder is ../shared/peer beside the repository unless PEER_DIR names another.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../lab/versions.env
. "$repo/e2e/lab/versions.env"
# shellcheck source=versions.env
. "$here/versions.env"

say() { printf '[peer-build] %s\n' "$*" >&2; }
# shellcheck source=../lab/build-steps.sh
. "$repo/e2e/lab/build-steps.sh"
use_lab_go
# The build steps' logs: peer-<step>.log.
BUILD_LOG_PREFIX=peer-
PEER_DIR=${PEER_DIR:-$(cd "$repo/.." && pwd)/shared/peer}
DRIVER_PEER=$PEER_DIR/secrets-store-csi-driver
PROVIDER_PEER=$PEER_DIR/secrets-store-csi-driver-provider-aws
SYNC_PEER=$PEER_DIR/secrets-store-sync-controller
OPENBAO_PEER=$PEER_DIR/openbao
OPENBAO_CSI_PEER=$PEER_DIR/openbao-csi-provider
OPENBAO_CHART=$PEER_DIR/openbao-helm/charts/openbao
PEER_IMAGES=$LAB_CACHE/images/peer
STAGE=$LAB_CACHE/stage/peer

# A short digest of files, so that a cached build is redone when its inputs change.
digest_of() { # paths...
  find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sed "s|$PEER_DIR|peer|; s|$repo|repo|" |
    sha256sum | cut -c1-12
}
mlog_key() { digest_of "$here/mlog"; }

driver_dir() { echo "$LAB_CACHE/bin/peer-driver-$PEER_DRIVER_VERSION-$(mlog_key)"; }
e2e_provider_dir() {
  echo "$LAB_CACHE/bin/peer-e2e-provider-$(digest_of "$DRIVER_PEER/test/e2eprovider" "$here/mlog")"
}
provider_aws_dir() {
  echo "$LAB_CACHE/bin/peer-provider-aws-$(digest_of "$PROVIDER_PEER/go.mod" "$PROVIDER_PEER/go.sum" \
    "$PROVIDER_PEER/main.go" "$PROVIDER_PEER/credential_provider" "$PROVIDER_PEER/provider" \
    "$PROVIDER_PEER/server" "$PROVIDER_PEER/utils" "$here/mlog")"
}
sync_controller_dir() {
  echo "$LAB_CACHE/bin/peer-sync-controller-$(digest_of "$SYNC_PEER/go.mod" "$SYNC_PEER/go.sum" "$SYNC_PEER/VERSION" \
    "$SYNC_PEER/cmd" "$SYNC_PEER/api" "$SYNC_PEER/internal" "$SYNC_PEER/pkg")"
}
openbao_dir() { echo "$LAB_CACHE/bin/peer-openbao-$PEER_OPENBAO_VERSION-$(digest_of "$OPENBAO_PEER")"; }
openbao_csi_provider_dir() {
  echo "$LAB_CACHE/bin/peer-openbao-csi-provider-$(digest_of "$OPENBAO_CSI_PEER/go.mod" "$OPENBAO_CSI_PEER/go.sum" \
    "$OPENBAO_CSI_PEER/main.go" "$OPENBAO_CSI_PEER/internal")"
}
aws_venv() { echo "$LAB_CACHE/venv/awscli-$PEER_AWSCLI_VERSION-boto3-$PEER_BOTO3_VERSION"; }
# Upstream's driver chart of the release the driver is built from, as the Go module proxy serves it.
driver_chart() { echo "$GOMODCACHE/sigs.k8s.io/secrets-store-csi-driver@$PEER_DRIVER_VERSION/charts/secrets-store-csi-driver"; }
kubectl_bin() { "$repo/e2e/lab/build.sh" path kubectl; }

check_peer() {
  local missing=()
  [ -d "$DRIVER_PEER/test/bats" ] || missing+=("$DRIVER_PEER")
  [ -d "$PROVIDER_PEER/tests" ] || missing+=("$PROVIDER_PEER")
  [ -d "$SYNC_PEER/test/bats" ] || missing+=("$SYNC_PEER")
  [ -f "$OPENBAO_PEER/go.mod" ] || missing+=("$OPENBAO_PEER")
  [ -f "$OPENBAO_CSI_PEER/go.mod" ] || missing+=("$OPENBAO_CSI_PEER")
  [ -f "$OPENBAO_CHART/Chart.yaml" ] || missing+=("$OPENBAO_CHART")
  [ ${#missing[@]} -eq 0 ] && return 0
  say "upstream's test material is missing: ${missing[*]} (set PEER_DIR)"
  return 1
}

# Builds a program into <out> once: nothing when <out>/<program> is there already. Otherwise the
# recipe runs as a build step (its output in the step's log) with the folder to build into,
# <out>.tmp, and its arguments; that folder becomes <out> only once the recipe succeeded, so that a
# half-built folder is never taken for a build. Recipes chain their commands with && (errexit is off
# inside a step).
build_once() { # out program step-name message recipe [recipe-args...]
  local out=$1 program=$2 name=$3 message=$4 recipe=$5
  shift 5
  [ -x "$out/$program" ] && return 0
  say "$message"
  rm -rf "$out" "$out.tmp" && mkdir -p "$out.tmp"
  quietly "$name" "$recipe" "$out.tmp" "$@"
  mv "$out.tmp" "$out"
}

# A fresh work folder, with writable copies of the sources given: the peer folder is only read.
fresh_work() { # work [source...]
  local work=$1
  shift
  rm -rf "$work" && mkdir -p "$work" && { [ $# -eq 0 ] || { cp -r "$@" "$work/" && chmod -R u+w "$work"; }; }
}

# The upstream driver from the Go module proxy, through a wrapper module that only adds the
# monis.app/mlog replacement (the same requirement graph as upstream's own build otherwise).
driver_recipe() { # into
  local work="$LAB_CACHE/src/peer-driver-$PEER_DRIVER_VERSION" pkg=sigs.k8s.io/secrets-store-csi-driver
  local ld="-s -w -X $pkg/pkg/version.BuildVersion=$PEER_DRIVER_VERSION -X $pkg/pkg/version.Vcs=$PEER_DRIVER_VERSION"
  fresh_work "$work" && (cd "$work" && go mod init lab.local/peer-driver \
    && go mod edit -replace "monis.app/mlog=$here/mlog" \
    && go get "$pkg/cmd/secrets-store-csi-driver@$PEER_DRIVER_VERSION" \
    && go build -trimpath -ldflags "$ld" -o "$1/secrets-store-csi" "$pkg/cmd/secrets-store-csi-driver")
}
build_driver() {
  build_once "$(driver_dir)" secrets-store-csi driver \
    "building the upstream driver $PEER_DRIVER_VERSION from the Go module proxy" driver_recipe
}

# Upstream's mock provider: its module points at the driver's source tree (replace ../..), which the
# peer folder does not hold; a copy of it requires the published v1.6.0 instead. The peer folder is
# left as it is.
e2e_provider_recipe() { # into
  local work="$LAB_CACHE/src/peer-e2e-provider"
  fresh_work "$work" "$DRIVER_PEER/test/e2eprovider/." && (cd "$work" \
    && go mod edit -dropreplace sigs.k8s.io/secrets-store-csi-driver \
      -require "sigs.k8s.io/secrets-store-csi-driver@$PEER_DRIVER_VERSION" -replace "monis.app/mlog=$here/mlog" \
    && go mod tidy && go build -trimpath -tags e2e -ldflags '-s -w' -o "$1/e2e-provider" .)
}
build_e2e_provider() {
  build_once "$(e2e_provider_dir)" e2e-provider e2e-provider \
    "building upstream's e2e mock provider from $DRIVER_PEER/test/e2eprovider" e2e_provider_recipe
}

# Upstream's AWS provider with the version its Makefile stamps.
provider_aws_recipe() { # into
  local work="$LAB_CACHE/src/peer-provider-aws" mod=github.com/aws/secrets-store-csi-driver-provider-aws
  local ld="-s -w -X $mod/server.Version=$PEER_PROVIDER_AWS_VERSION -X $mod/server.ProviderVersion=$PEER_PROVIDER_AWS_VERSION"
  fresh_work "$work" "$PROVIDER_PEER/go.mod" "$PROVIDER_PEER/go.sum" "$PROVIDER_PEER/main.go" \
    "$PROVIDER_PEER/credential_provider" "$PROVIDER_PEER/provider" "$PROVIDER_PEER/server" "$PROVIDER_PEER/utils" \
    && (cd "$work" && go mod edit -replace "monis.app/mlog=$here/mlog" \
      && go mod tidy && go build -trimpath -ldflags "$ld" -o "$1/secrets-store-csi-driver-provider-aws" .)
}
build_provider_aws() {
  build_once "$(provider_aws_dir)" secrets-store-csi-driver-provider-aws provider-aws \
    "building upstream's AWS provider $PEER_PROVIDER_AWS_VERSION from $PROVIDER_PEER" provider_aws_recipe
}

# Upstream's sync controller as its Makefile builds it (`make build`: CGO_ENABLED=0, ./cmd/main.go,
# the version stamp of its VERSION file and the peer folder's commit), in place: its go.mod needs no
# replace and go.sum is complete, so the read-only peer folder is only read.
sync_controller_recipe() { # into version
  local pkg=sigs.k8s.io/secrets-store-sync-controller/pkg/version
  local ld="-s -w -X $pkg.BuildVersion=$2 -X $pkg.Vcs=$PEER_SYNC_CONTROLLER_COMMIT"
  (cd "$SYNC_PEER" && go build -mod=readonly -trimpath -ldflags "$ld" -o "$1/secrets-store-sync-controller" ./cmd/main.go)
}
build_sync_controller() {
  local version
  version=$(head -1 "$SYNC_PEER/VERSION")
  build_once "$(sync_controller_dir)" secrets-store-sync-controller sync-controller \
    "building upstream's sync controller $version from $SYNC_PEER" sync_controller_recipe "$version"
}

# The OpenBao server, `bao`, as its release builds it (goreleaser: CGO_ENABLED=0, the version and
# commit stamped) but without the `ui` tag: the peer folder holds no web UI, and without the tag the
# server answers its API with no UI (SUBSTITUTIONS.md). Built in place: its go.mod's replacements all
# point inside its own tree, go.sum is complete, and the peer folder is only read.
openbao_recipe() { # into
  local v=github.com/openbao/openbao/version
  (cd "$OPENBAO_PEER" && go build -mod=readonly -trimpath \
    -ldflags "-s -w -X $v.fullVersion=$PEER_OPENBAO_VERSION -X $v.GitCommit=$PEER_OPENBAO_COMMIT" -o "$1/bao" .)
}
build_openbao() {
  build_once "$(openbao_dir)" bao openbao \
    "building the OpenBao server $PEER_OPENBAO_VERSION from $OPENBAO_PEER (about 5 minutes the first time)" openbao_recipe
}

# OpenBao's CSI provider with the version its Makefile stamps, in place (no replace in its go.mod).
openbao_csi_provider_recipe() { # into
  local ld="-s -w -X github.com/openbao/openbao-csi-provider/internal/version.BuildVersion=$PEER_OPENBAO_CSI_PROVIDER_VERSION"
  (cd "$OPENBAO_CSI_PEER" && go build -mod=readonly -trimpath -ldflags "$ld" -o "$1/openbao-csi-provider" .)
}
build_openbao_csi_provider() {
  build_once "$(openbao_csi_provider_dir)" openbao-csi-provider openbao-csi-provider \
    "building OpenBao's CSI provider $PEER_OPENBAO_CSI_PROVIDER_VERSION from $OPENBAO_CSI_PEER" openbao_csi_provider_recipe
}

programs() {
  check_peer
  build_driver
  build_e2e_provider
  build_provider_aws
  build_sync_controller
  build_openbao_csi_provider
  build_openbao
}

# --- images --------------------------------------------------------------------------------------

PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

images_key() {
  {
    cat "$here/build.sh" "$here/versions.env" "$BUILD_STEPS" "$repo/e2e/lab/oci-image.py"
    echo "$(driver_dir) $(e2e_provider_dir) $(provider_aws_dir) $(sync_controller_dir)"
    echo "$(openbao_dir) $(openbao_csi_provider_dir)"
    sha256sum /usr/bin/busybox /usr/bin/printenv "$(command -v curl)" "$(kubectl_bin)" "$(command -v dumb-init)" \
      "$OPENBAO_PEER/.release/docker/docker-entrypoint.sh"
  } | sha256sum | cut -c1-16
}

images() {
  check_peer
  programs
  # dumb-init goes into OpenBao's image (and its key): installed here too, since a lab test
  # (switch-in-place) asks for the images without `tools`.
  command -v dumb-init >/dev/null || debian_install dumb-init
  local key
  key=$(images_key)
  if [ "$(cat "$PEER_IMAGES/images.key" 2>/dev/null)" = "$key" ]; then return 0; fi
  say "making the peer images (upstream's driver and its CRD image, mock provider, AWS provider and sync controller; OpenBao's server and CSI provider; busybox; curl)"
  rm -rf "$PEER_IMAGES" "$STAGE" && mkdir -p "$PEER_IMAGES" "$STAGE"
  local base="$STAGE/busybox"
  busybox_rootfs "$base"
  local name
  # The test pods' images: busybox under each name the suites' manifests use, with a `printenv`
  # (the suites read pods' variables with it): the busybox image upstream's suites pull has the
  # applet, Debian's busybox-static has not, so coreutils' program stands in for it.
  local printenv_root="$STAGE/printenv"
  mkdir -p "$printenv_root/bin" && cp /usr/bin/printenv "$printenv_root/bin/printenv"
  with_libraries "$printenv_root" /usr/bin/printenv
  for name in $PEER_BUSYBOX_IMAGES; do
    oci --name "$name" --out "$PEER_IMAGES/busybox-$(echo "$name" | tr '/:' '__').tar" --layer "$base" \
      --layer "$printenv_root" --env "$PATH_ENV" --cmd '["sh"]'
  done
  # curl for the suites' curl pods (the mock provider's HTTP endpoints, the driver's metrics).
  local curl_root="$STAGE/curl" curl_bin
  curl_bin=$(command -v curl)
  mkdir -p "$curl_root$(dirname "$curl_bin")" && cp -L "$curl_bin" "$curl_root$curl_bin"
  with_libraries "$curl_root" "$curl_bin"
  oci --name "$PEER_CURL_IMAGE" --out "$PEER_IMAGES/curl.tar" --layer "$base" --layer "$curl_root" \
    --env "$PATH_ENV" --cmd '["curl"]'
  # The upstream driver: its program on a base with mount and umount (busybox's), as upstream's
  # image has util-linux's.
  local app="$STAGE/driver"
  mkdir -p "$app" && cp "$(driver_dir)/secrets-store-csi" "$app/secrets-store-csi"
  oci --name "$PEER_DRIVER_IMAGE" --out "$PEER_IMAGES/driver.tar" --layer "$base" --layer "$app" \
    --env "$PATH_ENV" --entrypoint '["/secrets-store-csi"]'
  # Upstream's CRD image, which its driver chart's hook jobs run (`kubectl apply -f crds/` before an
  # install or upgrade, `kubectl patch crd ...` before an upgrade): as its crd.Dockerfile, kubectl
  # and the release's CRDs in /crds, on busybox here. The lab's kubectl is the one the node's
  # Kubernetes version ships.
  app="$STAGE/driver-crds"
  mkdir -p "$app/bin" "$app/crds" && cp "$(kubectl_bin)" "$app/bin/kubectl" && cp "$(driver_chart)"/crds/*.yaml "$app/crds/"
  oci --name "$PEER_DRIVER_CRDS_IMAGE" --out "$PEER_IMAGES/driver-crds.tar" --layer "$base" --layer "$app" \
    --env "$PATH_ENV" --workdir / --entrypoint '["/bin/kubectl"]'
  app="$STAGE/e2e-provider"
  mkdir -p "$app" && cp "$(e2e_provider_dir)/e2e-provider" "$app/e2e-provider"
  oci --name "$PEER_E2E_PROVIDER_IMAGE" --out "$PEER_IMAGES/e2e-provider.tar" --layer "$base" --layer "$app" \
    --env "$PATH_ENV" --entrypoint '["/e2e-provider"]'
  # The same mock provider under the name the sync controller's suite gives its sidecar (the staging
  # chart's commented providerContainer block), so that upstream's values install it unchanged.
  oci --name "$PEER_SYNC_E2E_PROVIDER_IMAGE" --out "$PEER_IMAGES/sync-e2e-provider.tar" --layer "$base" \
    --layer "$app" --env "$PATH_ENV" --entrypoint '["/e2e-provider"]'
  # The upstream AWS provider: as its Dockerfile, the program and the CA certificates only.
  app="$STAGE/provider-aws"
  mkdir -p "$app/bin" "$app/etc/ssl/certs" "$app/tmp"
  chmod 1777 "$app/tmp"
  cp "$(provider_aws_dir)/secrets-store-csi-driver-provider-aws" "$app/bin/"
  cp /etc/ssl/certs/ca-certificates.crt "$app/etc/ssl/certs/ca-certificates.crt"
  oci --name "$PEER_PROVIDER_AWS_IMAGE" --out "$PEER_IMAGES/provider-aws.tar" --layer "$app" \
    --env "$PATH_ENV" --entrypoint '["/bin/secrets-store-csi-driver-provider-aws"]'
  # Upstream's sync controller: as its Dockerfile (distroless/static, uid 0), the static program at
  # the root, with /tmp and the passwd and group files distroless has.
  app="$STAGE/sync-controller"
  mkdir -p "$app/etc" "$app/tmp"
  chmod 1777 "$app/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$app/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$app/etc/group"
  cp "$(sync_controller_dir)/secrets-store-sync-controller" "$app/secrets-store-sync-controller"
  oci --name "$PEER_SYNC_CONTROLLER_IMAGE" --out "$PEER_IMAGES/sync-controller.tar" --layer "$app" \
    --env "$PATH_ENV" --entrypoint '["/secrets-store-sync-controller"]'
  openbao_images "$base"
  rm -rf "$STAGE"
  echo "$key" >"$PEER_IMAGES/images.key"
}

# OpenBao's two images for its chart (server.dev and csi.enabled), as OpenBao's Dockerfiles make them
# (target `default`) but on busybox rather than alpine (SUBSTITUTIONS.md):
# - the server, also the CSI provider's agent sidecar: /bin/bao with its `vault` link, the release's
#   docker-entrypoint.sh, whose first line runs it under dumb-init (Debian's, with its libraries),
#   the `openbao` user (uid 100, group 1000, home /home/openbao) that alpine's adduser -S gives and
#   the chart runs as, and /openbao/{config,logs,file} owned by it. Alpine's su-exec, libcap and
#   tzdata are left out: the chart runs the server as uid 100 with SKIP_CHOWN and SKIP_SETCAP, so the
#   entrypoint never calls them.
# - the CSI provider: its program on busybox, as root, as its Dockerfile has it.
openbao_images() { # busybox-base
  local base=$1 app="$STAGE/openbao" data="$STAGE/openbao-data"
  mkdir -p "$app/bin" "$app/usr/bin" "$app/usr/local/bin" "$app/licenses" "$app/etc" "$data/openbao/config" \
    "$data/openbao/logs" "$data/openbao/file" "$data/home/openbao"
  cp "$(openbao_dir)/bao" "$app/bin/bao" && ln -s bao "$app/bin/vault"
  install -m 0755 "$OPENBAO_PEER/.release/docker/docker-entrypoint.sh" "$app/usr/local/bin/docker-entrypoint.sh"
  cp "$OPENBAO_PEER/LICENSE" "$app/licenses/mozilla.txt"
  cp "$(command -v dumb-init)" "$app/usr/bin/dumb-init" && with_libraries "$app" "$(command -v dumb-init)"
  { cat "$base/etc/passwd" && echo 'openbao:x:100:1000:openbao:/home/openbao:/bin/sh'; } >"$app/etc/passwd"
  { cat "$base/etc/group" && echo 'openbao:x:1000:openbao'; } >"$app/etc/group"
  oci --name "$PEER_OPENBAO_IMAGE" --out "$PEER_IMAGES/openbao.tar" --layer "$base" --layer "$app" \
    --layer "$data=100:1000" --env "$PATH_ENV" --env NAME=openbao --env "VERSION=$PEER_OPENBAO_VERSION" \
    --entrypoint '["docker-entrypoint.sh"]' --cmd '["server","-dev","-dev-no-store-token"]'
  app="$STAGE/openbao-csi-provider"
  mkdir -p "$app/bin" && cp "$(openbao_csi_provider_dir)/openbao-csi-provider" "$app/bin/openbao-csi-provider"
  oci --name "$PEER_OPENBAO_CSI_PROVIDER_IMAGE" --out "$PEER_IMAGES/openbao-csi-provider.tar" --layer "$base" \
    --layer "$app" --env "$PATH_ENV" --entrypoint '["/bin/openbao-csi-provider"]'
}

# --- tools ---------------------------------------------------------------------------------------

# bats from Debian, and envsubst and jq, which the suites call; dumb-init for OpenBao's image.
build_bats() {
  local missing=()
  command -v bats >/dev/null || missing+=(bats)
  command -v envsubst >/dev/null || missing+=(gettext-base)
  command -v jq >/dev/null || missing+=(jq)
  # For OpenBao's server image, whose entrypoint script runs under it (images below).
  command -v dumb-init >/dev/null || missing+=(dumb-init)
  [ ${#missing[@]} -eq 0 ] && return 0
  debian_install "${missing[@]}"
}

# The aws CLI the suites call, and boto3 for the AWS provider's test-file generator.
build_aws_cli() {
  local venv
  venv=$(aws_venv)
  [ -x "$venv/bin/aws" ] && [ -x "$venv/bin/python3" ] && return 0
  say "installing the aws CLI $PEER_AWSCLI_VERSION and boto3 $PEER_BOTO3_VERSION from PyPI into a venv"
  rm -rf "$venv"
  quietly awscli bash -c "python3 -m venv '$venv' && '$venv/bin/pip' install --no-input \
    'awscli==$PEER_AWSCLI_VERSION' 'boto3==$PEER_BOTO3_VERSION'" || {
    rm -rf "$venv"
    return 1
  }
}

tools() {
  build_bats
  build_aws_cli
}

path_of() {
  case "$1" in
    driver) echo "$(driver_dir)/secrets-store-csi" ;;
    e2e-provider) echo "$(e2e_provider_dir)/e2e-provider" ;;
    provider-aws) echo "$(provider_aws_dir)/secrets-store-csi-driver-provider-aws" ;;
    sync-controller) echo "$(sync_controller_dir)/secrets-store-sync-controller" ;;
    openbao) echo "$(openbao_dir)/bao" ;;
    openbao-csi-provider) echo "$(openbao_csi_provider_dir)/openbao-csi-provider" ;;
    openbao-chart) echo "$OPENBAO_CHART" ;;
    aws-venv) aws_venv ;;
    images) echo "$PEER_IMAGES" ;;
    driver-chart) driver_chart ;;
    *) say "unknown name $1" && return 1 ;;
  esac
}

# One build at a time: make test starts `build.sh all` in the background while the lab tests run,
# and a lab test (switch-in-place) asks for the images meanwhile; the second waits for the first,
# then finds everything cached.
if [ "${1:-all}" != path ]; then
  mkdir -p "$LAB_CACHE"
  exec 9>"$LAB_CACHE/peer-build.lock"
  if ! flock -n 9; then
    say "waiting for another peer build to finish"
    flock 9
  fi
fi

case "${1:-all}" in
  # As separate commands: inside an && list errexit is off, and a failed step would not stop the next.
  all) tools; programs; images ;;
  programs) programs ;;
  images) images ;;
  tools) tools ;;
  path) path_of "${2:-}" ;;
  *) say "usage: build.sh all|programs|images|tools|path <name>" && exit 2 ;;
esac
