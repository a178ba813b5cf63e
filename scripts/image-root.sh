#!/usr/bin/env bash
# The files of a program image, gathered in the Dockerfiles' build stage from its Debian with
# Node.js, as two root file systems the Dockerfile copies into an empty image one after the other:
#
#   <out>/runtime   node, the shared libraries it loads (ldd), the CA certificates, /etc/passwd and
#                   /etc/group: the same bytes, times and owners in every image built on the same
#                   base, so that one layer serves them all on a node
#   <out>/programs  /opt/<program> for each bundle of scripts/bundle.mjs's <bundles> folder,
#                   /usr/local/bin/<program> linking to its dist/main.js (#!/usr/local/bin/node),
#                   and any library a native module loads that node does not
#
#   image-root.sh <out> <bundles>
#
# No shell, no package manager, no other program: the images run node and nothing else. Users: root
# (the driver runs as root, privileged) and secrets-store, 65532 (the provider and the sync
# controller; the charts use the same ids).
set -euo pipefail

out=$1
bundles=$2
node=/usr/local/bin/node
runtime=$out/runtime
programs=$out/programs

# Copies each shared library `binary` loads to the same path under `root`, unless `have` has it
# already. Those are the paths the dynamic loader looks in (the interpreter under /lib64, the rest
# under /lib/<triplet>); the image has no ld.so.cache.
libraries() { # binary root have
  local lib
  for lib in $(ldd "$1" | awk '/=>/ {print $3} /^\t\// {print $1}'); do
    [ -e "$3$lib" ] && continue
    mkdir -p "$2$(dirname "$lib")"
    cp -L "$lib" "$2$lib"
  done
}

rm -rf "$runtime" "$programs"
mkdir -p "$runtime/usr/local/bin" "$runtime/etc/ssl/certs" "$programs/opt" "$programs/usr/local/bin"
cp "$node" "$runtime$node"
libraries "$node" "$runtime" "$runtime"
# node trusts its own copy of Mozilla's CA list; this file serves --use-system-ca, --use-openssl-ca
# and anything else that reads the system's list.
cp -L /etc/ssl/certs/ca-certificates.crt "$runtime/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
  'secrets-store:x:65532:65532:secrets-store:/nonexistent:/sbin/nologin' >"$runtime/etc/passwd"
printf '%s\n' 'root:x:0:' 'secrets-store:x:65532:' >"$runtime/etc/group"
find "$runtime" -exec touch -h -d @0 {} +

for dir in "$bundles"/*/; do
  program=$(basename "$dir")
  cp -a "$dir" "$programs/opt/$program"
  ln -s "/opt/$program/dist/main.js" "$programs/usr/local/bin/$program"
done
while IFS= read -r -d '' addon; do
  libraries "$addon" "$programs" "$runtime"
done < <(find "$programs/opt" -name '*.node' -type f -print0)
