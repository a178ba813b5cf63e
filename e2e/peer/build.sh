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
#   build.sh images     OCI image tarballs of those four, and of busybox and curl, under the names the
#                       suites and charts use (imported into the real node's containerd by run.sh)
#   build.sh tools      bats (Debian's package) and the aws CLI with boto3 (PyPI, in a venv)
#   build.sh all        all three
#   build.sh path <name>   the cached path of: driver, e2e-provider, provider-aws, sync-controller,
#                          aws-venv, images
#
# The peer folder is ../shared/peer beside the repository unless PEER_DIR names another.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../lab/versions.env
. "$repo/e2e/lab/versions.env"
# shellcheck source=versions.env
. "$here/versions.env"

LAB_CACHE=${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-store-csi-lab}
PEER_DIR=${PEER_DIR:-$(cd "$repo/.." && pwd)/shared/peer}
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE_LAB:-$LAB_CACHE/go/mod} GOCACHE=${GOCACHE_LAB:-$LAB_CACHE/go/build}
DRIVER_PEER=$PEER_DIR/secrets-store-csi-driver
PROVIDER_PEER=$PEER_DIR/secrets-store-csi-driver-provider-aws
SYNC_PEER=$PEER_DIR/secrets-store-sync-controller
PEER_IMAGES=$LAB_CACHE/images/peer
STAGE=$LAB_CACHE/stage/peer
BUILD_LOGS=$LAB_CACHE/logs

say() { printf '[peer-build] %s\n' "$*" >&2; }

# One build step with its output in a log: one line on the terminal, the log's end on a failure.
quietly() { # name command...
  local name=$1
  shift
  mkdir -p "$BUILD_LOGS"
  local log="$BUILD_LOGS/peer-$name.log"
  if ! "$@" >"$log" 2>&1; then
    say "building $name failed; last lines of $log:"
    tail -n 20 "$log" | cut -c1-300 >&2
    return 1
  fi
}

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
aws_venv() { echo "$LAB_CACHE/venv/awscli-$PEER_AWSCLI_VERSION-boto3-$PEER_BOTO3_VERSION"; }

check_peer() {
  local missing=()
  [ -d "$DRIVER_PEER/test/bats" ] || missing+=("$DRIVER_PEER")
  [ -d "$PROVIDER_PEER/tests" ] || missing+=("$PROVIDER_PEER")
  [ -d "$SYNC_PEER/test/bats" ] || missing+=("$SYNC_PEER")
  [ ${#missing[@]} -eq 0 ] && return 0
  say "upstream's test material is missing: ${missing[*]} (set PEER_DIR)"
  return 1
}

# The upstream driver from the Go module proxy, through a wrapper module that only adds the
# monis.app/mlog replacement (the same requirement graph as upstream's own build otherwise).
build_driver() {
  local out
  out=$(driver_dir)
  [ -x "$out/secrets-store-csi" ] && return 0
  say "building the upstream driver $PEER_DRIVER_VERSION from the Go module proxy"
  local work="$LAB_CACHE/src/peer-driver-$PEER_DRIVER_VERSION"
  rm -rf "$work" "$out" && mkdir -p "$work" "$out.tmp"
  local pkg=sigs.k8s.io/secrets-store-csi-driver
  local ld="-s -w -X $pkg/pkg/version.BuildVersion=$PEER_DRIVER_VERSION -X $pkg/pkg/version.Vcs=$PEER_DRIVER_VERSION"
  quietly driver bash -c "cd '$work' && go mod init lab.local/peer-driver \
    && go mod edit -replace 'monis.app/mlog=$here/mlog' \
    && go get '$pkg/cmd/secrets-store-csi-driver@$PEER_DRIVER_VERSION' \
    && go build -trimpath -ldflags '$ld' -o '$out.tmp/secrets-store-csi' $pkg/cmd/secrets-store-csi-driver"
  mv "$out.tmp" "$out"
}

# Upstream's mock provider: its module points at the driver's source tree (replace ../..), which the
# peer folder does not hold; a copy of it requires the published v1.6.0 instead. The peer folder is
# left as it is.
build_e2e_provider() {
  local out
  out=$(e2e_provider_dir)
  [ -x "$out/e2e-provider" ] && return 0
  say "building upstream's e2e mock provider from $DRIVER_PEER/test/e2eprovider"
  local work="$LAB_CACHE/src/peer-e2e-provider"
  rm -rf "$work" "$out" && mkdir -p "$work" "$out.tmp"
  cp -r "$DRIVER_PEER/test/e2eprovider/." "$work/"
  chmod -R u+w "$work"
  quietly e2e-provider bash -c "cd '$work' \
    && go mod edit -dropreplace sigs.k8s.io/secrets-store-csi-driver \
      -require 'sigs.k8s.io/secrets-store-csi-driver@$PEER_DRIVER_VERSION' -replace 'monis.app/mlog=$here/mlog' \
    && go mod tidy && go build -trimpath -tags e2e -ldflags '-s -w' -o '$out.tmp/e2e-provider' ."
  mv "$out.tmp" "$out"
}

# Upstream's AWS provider with the version its Makefile stamps.
build_provider_aws() {
  local out
  out=$(provider_aws_dir)
  [ -x "$out/secrets-store-csi-driver-provider-aws" ] && return 0
  say "building upstream's AWS provider $PEER_PROVIDER_AWS_VERSION from $PROVIDER_PEER"
  local work="$LAB_CACHE/src/peer-provider-aws"
  rm -rf "$work" "$out" && mkdir -p "$work" "$out.tmp"
  cp -r "$PROVIDER_PEER/go.mod" "$PROVIDER_PEER/go.sum" "$PROVIDER_PEER/main.go" "$PROVIDER_PEER/credential_provider" \
    "$PROVIDER_PEER/provider" "$PROVIDER_PEER/server" "$PROVIDER_PEER/utils" "$work/"
  chmod -R u+w "$work"
  local mod=github.com/aws/secrets-store-csi-driver-provider-aws
  local ld="-s -w -X $mod/server.Version=$PEER_PROVIDER_AWS_VERSION -X $mod/server.ProviderVersion=$PEER_PROVIDER_AWS_VERSION"
  quietly provider-aws bash -c "cd '$work' && go mod edit -replace 'monis.app/mlog=$here/mlog' \
    && go mod tidy && go build -trimpath -ldflags '$ld' -o '$out.tmp/secrets-store-csi-driver-provider-aws' ."
  mv "$out.tmp" "$out"
}

# Upstream's sync controller as its Makefile builds it (`make build`: CGO_ENABLED=0, ./cmd/main.go,
# the version stamp of its VERSION file and the peer folder's commit), in place: its go.mod needs no
# replace and go.sum is complete, so the read-only peer folder is only read.
build_sync_controller() {
  local out
  out=$(sync_controller_dir)
  [ -x "$out/secrets-store-sync-controller" ] && return 0
  local version
  version=$(head -1 "$SYNC_PEER/VERSION")
  say "building upstream's sync controller $version from $SYNC_PEER"
  rm -rf "$out" && mkdir -p "$out.tmp"
  local pkg=sigs.k8s.io/secrets-store-sync-controller/pkg/version
  local ld="-s -w -X $pkg.BuildVersion=$version -X $pkg.Vcs=$PEER_SYNC_CONTROLLER_COMMIT"
  quietly sync-controller bash -c "cd '$SYNC_PEER' \
    && go build -mod=readonly -trimpath -ldflags '$ld' -o '$out.tmp/secrets-store-sync-controller' ./cmd/main.go"
  mv "$out.tmp" "$out"
}

programs() {
  check_peer
  build_driver
  build_e2e_provider
  build_provider_aws
  build_sync_controller
}

# --- images --------------------------------------------------------------------------------------

oci() { python3 "$repo/e2e/lab/oci-image.py" --cache "$LAB_CACHE/layers" "$@"; }

# busybox and its applets (sh, mount, umount, tail, sleep, cat, ...), /etc/passwd and /tmp.
busybox_root() { # folder
  local root=$1 a
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
  chmod 1777 "$root/tmp"
  cp /usr/bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
}

# A program and every shared library it loads.
with_libraries() { # folder binary
  local root=$1 bin=$2 lib
  mkdir -p "$root$(dirname "$bin")"
  cp -L "$bin" "$root$bin"
  for lib in $(ldd "$bin" | awk '/=>/ {print $3} /^\t\// {print $1}'); do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

images_key() {
  {
    cat "$here/build.sh" "$here/versions.env" "$repo/e2e/lab/oci-image.py"
    echo "$(driver_dir) $(e2e_provider_dir) $(provider_aws_dir) $(sync_controller_dir)"
    sha256sum /usr/bin/busybox "$(command -v curl)"
  } | sha256sum | cut -c1-16
}

images() {
  check_peer
  programs
  local key
  key=$(images_key)
  if [ "$(cat "$PEER_IMAGES/images.key" 2>/dev/null)" = "$key" ]; then return 0; fi
  say "making the peer images (upstream's driver, mock provider, AWS provider and sync controller; busybox; curl)"
  rm -rf "$PEER_IMAGES" "$STAGE" && mkdir -p "$PEER_IMAGES" "$STAGE"
  local base="$STAGE/busybox"
  busybox_root "$base"
  local name
  # The test pods' images: busybox under each name the suites' manifests use.
  for name in $PEER_BUSYBOX_IMAGES; do
    oci --name "$name" --out "$PEER_IMAGES/busybox-$(echo "$name" | tr '/:' '__').tar" --layer "$base" \
      --env "$PATH_ENV" --cmd '["sh"]'
  done
  # curl for the suites' curl pods (the mock provider's HTTP endpoints, the driver's metrics).
  local curl_root="$STAGE/curl"
  mkdir -p "$curl_root" && with_libraries "$curl_root" "$(command -v curl)"
  oci --name "$PEER_CURL_IMAGE" --out "$PEER_IMAGES/curl.tar" --layer "$base" --layer "$curl_root" \
    --env "$PATH_ENV" --cmd '["curl"]'
  # The upstream driver: its program on a base with mount and umount (busybox's), as upstream's
  # image has util-linux's.
  local app="$STAGE/driver"
  mkdir -p "$app" && cp "$(driver_dir)/secrets-store-csi" "$app/secrets-store-csi"
  oci --name "$PEER_DRIVER_IMAGE" --out "$PEER_IMAGES/driver.tar" --layer "$base" --layer "$app" \
    --env "$PATH_ENV" --entrypoint '["/secrets-store-csi"]'
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
  rm -rf "$STAGE"
  echo "$key" >"$PEER_IMAGES/images.key"
}

# --- tools ---------------------------------------------------------------------------------------

# bats from Debian, and envsubst and jq, which the suites call.
build_bats() {
  local missing=()
  command -v bats >/dev/null || missing+=(bats)
  command -v envsubst >/dev/null || missing+=(gettext-base)
  command -v jq >/dev/null || missing+=(jq)
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | grep -q .; then
    say "refreshing Debian's package lists (apt-get update)"
    quietly apt-update apt-get update -q
  fi
  say "installing ${missing[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive quietly apt-install apt-get install -y -q --no-install-recommends "${missing[@]}"
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
    aws-venv) aws_venv ;;
    images) echo "$PEER_IMAGES" ;;
    *) say "unknown name $1" && return 1 ;;
  esac
}

case "${1:-all}" in
  # As separate commands: inside an && list errexit is off, and a failed step would not stop the next.
  all) tools; programs; images ;;
  programs) programs ;;
  images) images ;;
  tools) tools ;;
  path) path_of "${2:-}" ;;
  *) say "usage: build.sh all|programs|images|tools|path <name>" && exit 2 ;;
esac
