#!/usr/bin/env bash
# Builds the driver and AWS provider images with the first container builder that works here:
# docker or podman with a reachable engine, else buildah.
#
#   scripts/build-images.sh                   build both images
#   IMAGE_REGISTRY=my.registry/x IMAGE_TAG=dev scripts/build-images.sh
#   IMAGE_BUILDER=podman scripts/build-images.sh       use this builder only
#   IMAGES_REQUIRED=1 scripts/build-images.sh         fail (exit 1) when no builder works
#
# Without a working builder it says why and exits 0, so that `make images` does not break machines
# without a container engine (such as the lab); set IMAGES_REQUIRED=1 where the images must exist.
# The names match the charts' defaults (image repositories, tag = appVersion = package version).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../e2e/lab/versions.env
. "$repo/e2e/lab/versions.env"

registry=${IMAGE_REGISTRY:-ghcr.io/sscsi-ts}
tag=${IMAGE_TAG:-$(sed -n 's/^appVersion: *["'\'']\{0,1\}\([^"'\'']*\).*/\1/p' "$repo/charts/secrets-store-csi-driver/Chart.yaml")}

say() { printf '[images] %s\n' "$*" >&2; }

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

candidates=(docker podman buildah)
[ -n "${IMAGE_BUILDER:-}" ] && candidates=("$IMAGE_BUILDER")
builder=
for c in "${candidates[@]}"; do
  if usable "$c"; then builder=$c; break; fi
done

if [ -z "$builder" ]; then
  say "no container builder works on this machine, so no image is built:"
  for c in "${candidates[@]}"; do say "  $(why_not "$c")"; done
  if [ "${IMAGES_REQUIRED:-0}" = 1 ]; then
    say "IMAGES_REQUIRED=1: failing"
    exit 1
  fi
  say "skipped (exit 0); set IMAGES_REQUIRED=1 to make this an error"
  exit 0
fi

build() { # dockerfile image
  say "building $2 with $builder"
  case "$builder" in
    buildah) buildah bud --layers --build-arg "NODE_VERSION=$NODE_VERSION" -f "$repo/$1" -t "$2" "$repo" ;;
    *) "$builder" build --build-arg "NODE_VERSION=$NODE_VERSION" -f "$repo/$1" -t "$2" "$repo" ;;
  esac
}

build driver/Dockerfile "$registry/secrets-store-csi-driver:$tag"
build provider-aws/Dockerfile "$registry/secrets-store-csi-driver-provider-aws:$tag"
say "built $registry/secrets-store-csi-driver:$tag and $registry/secrets-store-csi-driver-provider-aws:$tag"
