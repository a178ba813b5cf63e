# shellcheck shell=bash
# What the lab's build scripts share, sourced by e2e/lab/build.sh, e2e/lab/node-images.sh and
# e2e/peer/build.sh (each defines `say`, its lines' prefix, first): the lab cache, build steps with
# their output in a log, packages from Debian, and the parts of the lab's small images.

LAB_CACHE=${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-store-csi-lab}
BUILD_LOGS=$LAB_CACHE/logs
# This file, for the keys of what is made with it.
BUILD_STEPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/build-steps.sh

# Go builds, static, with their caches under the lab cache so that they survive a fresh clone.
use_lab_go() {
  export GOFLAGS=-buildvcs=false CGO_ENABLED=0
  export GOMODCACHE=${GOMODCACHE_LAB:-$LAB_CACHE/go/mod} GOCACHE=${GOCACHE_LAB:-$LAB_CACHE/go/build}
}

# Runs one build step with its output in $BUILD_LOGS/<BUILD_LOG_PREFIX><name>.log: the terminal gets
# one line per step, and on a failure the step's last 20 lines and the log's path.
quietly() { # name command...
  local name=$1
  shift
  mkdir -p "$BUILD_LOGS"
  local log="$BUILD_LOGS/${BUILD_LOG_PREFIX:-}$name.log"
  if ! "$@" >"$log" 2>&1; then
    say "building $name failed; last lines of $log:"
    tail -n 20 "$log" | cut -c1-300 >&2
    return 1
  fi
}

# Debian packages (the lab runs as root). A new machine may have no package lists yet, or lists old
# enough that their versions are gone from the mirror: they are refreshed first when older than a
# day, and once more if the install still fails. Two installs at once (make test builds the peer
# suites' tools in the background while the lab starts) take turns: the lab's installs share one lock
# (APT_TURN, also taken by scripts/build-images.sh), and apt-get waits for dpkg's lock held by anything
# else on the machine (it does not wait for the package lists' lock, hence ours).
APT_TURN=/var/lock/sscsi-lab-apt.lock
APT_LOCK_WAIT=(-o DPkg::Lock::Timeout=600)
debian_install() { # package...
  (
    flock -w 1200 8 || { say "another Debian install held $APT_TURN for 20 minutes"; exit 1; }
    if ! find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | grep -q .; then
      say "refreshing Debian's package lists (apt-get update)"
      quietly apt-update apt-get "${APT_LOCK_WAIT[@]}" update -q || exit 1
    fi
    say "installing $* from Debian"
    if ! DEBIAN_FRONTEND=noninteractive quietly apt-install apt-get "${APT_LOCK_WAIT[@]}" install -y -q --no-install-recommends "$@"; then
      say "retrying after apt-get update"
      quietly apt-update apt-get "${APT_LOCK_WAIT[@]}" update -q || exit 1
      DEBIAN_FRONTEND=noninteractive quietly apt-install apt-get "${APT_LOCK_WAIT[@]}" install -y -q --no-install-recommends "$@"
    fi
  ) 8>"$APT_TURN"
}

# An OCI image tarball from root file system folders (oci-image.py), its layers cached.
oci() { python3 "$(dirname "$BUILD_STEPS")/oci-image.py" --cache "$LAB_CACHE/layers" "$@"; }

# A root file system with busybox and its applets, /tmp, and /etc/passwd and /etc/group holding
# root, the users given (name:id, the same number for the group) and nobody.
busybox_rootfs() { # folder [name:id ...]
  local root=$1 a u
  shift
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
  chmod 1777 "$root/tmp"
  cp /usr/bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
  {
    echo 'root:x:0:0:root:/root:/bin/sh'
    for u in "$@"; do echo "${u%%:*}:x:${u#*:}:${u#*:}:${u%%:*}:/:/bin/false"; done
    echo 'nobody:x:65534:65534:nobody:/:/bin/false'
  } >"$root/etc/passwd"
  {
    echo 'root:x:0:'
    for u in "$@"; do echo "${u%%:*}:x:${u#*:}:"; done
    echo 'nobody:x:65534:'
  } >"$root/etc/group"
}

# Copies every shared library the binaries load (ldd) into a root file system.
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
