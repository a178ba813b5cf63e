#!/usr/bin/env bash
# Checks of e2e/peer/build.sh that need no network and build nothing: `go` is a stub that records
# its calls, the aws CLI's venv is a stand-in in a temporary cache. Run: e2e/peer/build-test.sh
# (exit 0 when every check passes; one line per check).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/peer-build-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

check() { # description condition...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failures=$((failures + 1)); fi
}

# A cache whose aws CLI venv is already there, so that `tools` has nothing to install.
cache=$work/cache
# shellcheck source=versions.env
. "$here/versions.env"
venv=$cache/venv/awscli-$PEER_AWSCLI_VERSION-boto3-$PEER_BOTO3_VERSION
mkdir -p "$venv/bin" "$work/stubs" "$work/empty-peer"
printf '#!/bin/sh\nexit 0\n' >"$venv/bin/aws"
printf '#!/bin/sh\nexit 0\n' >"$venv/bin/python3"
# go records that it was asked to build something, and in which folder.
printf '#!/bin/sh\necho "$PWD: $*" >>"%s/go-calls"\nexit 0\n' "$work" >"$work/stubs/go"
for c in bats envsubst jq dumb-init; do printf '#!/bin/sh\nexit 0\n' >"$work/stubs/$c"; done
chmod +x "$venv/bin/aws" "$venv/bin/python3" "$work/stubs"/*

# Upstream's material missing (a clone whose ../shared/peer is not there): `all` stops before any
# build, with the reason, and fails.
out=$(PATH="$work/stubs:$PATH" LAB_CACHE=$cache PEER_DIR=$work/empty-peer "$here/build.sh" all 2>&1)
rc=$?
check "build.sh all fails when upstream's material is missing (exit $rc)" [ "$rc" -ne 0 ]
check "build.sh all names the missing material" grep -q "upstream's test material is missing" <<<"$out"
check "build.sh all builds nothing without upstream's material ($(cat "$work/go-calls" 2>/dev/null | wc -l) go calls)" \
  [ ! -e "$work/go-calls" ]
check "build.sh all leaves no program folder behind" [ -z "$(ls "$cache/bin" 2>/dev/null)" ]

# A peer folder shaped like ../shared/peer (empty files where the builds read sources).
peer=$work/peer
mkdir -p "$peer/secrets-store-csi-driver/test/bats" "$peer/secrets-store-csi-driver/test/e2eprovider" \
  "$peer/secrets-store-csi-driver-provider-aws/tests" "$peer/secrets-store-sync-controller/test/bats"
touch "$peer/secrets-store-csi-driver/test/e2eprovider/go.mod"
for d in credential_provider provider server utils; do mkdir -p "$peer/secrets-store-csi-driver-provider-aws/$d"; done
touch "$peer/secrets-store-csi-driver-provider-aws/"{go.mod,go.sum,main.go}
ssc=$peer/secrets-store-sync-controller
for d in cmd api internal pkg; do mkdir -p "$ssc/$d"; done
touch "$ssc/go.mod" "$ssc/go.sum" "$ssc/cmd/main.go"
echo v0.0.4 >"$ssc/VERSION"
bao=$peer/openbao bao_csi=$peer/openbao-csi-provider
mkdir -p "$bao/.release/docker" "$bao/version" "$bao_csi/internal" "$peer/openbao-helm/charts/openbao"
touch "$bao/go.mod" "$bao/go.sum" "$bao/main.go" "$bao_csi/go.mod" "$bao_csi/go.sum" "$bao_csi/main.go" \
  "$peer/openbao-helm/charts/openbao/Chart.yaml"
state_of_ssc() { find "$ssc" -printf '%p %s %T@\n' | sort | sha256sum; }
state_of_openbao() { find "$bao" "$bao_csi" -printf '%p %s %T@\n' | sort | sha256sum; }

# Only the sync controller's material missing: nothing is built, and the message names it.
mv "$ssc" "$work/ssc-aside"
rm -f "$work/go-calls"
out=$(PATH="$work/stubs:$PATH" LAB_CACHE=$work/cache2 PEER_DIR=$peer "$here/build.sh" programs 2>&1)
rc=$?
check "build.sh programs fails without the sync controller's material (exit $rc)" [ "$rc" -ne 0 ]
check "build.sh programs names the sync controller's folder, and only it" \
  grep -q "missing: $ssc (set PEER_DIR)" <<<"$out"
check "build.sh programs builds nothing without it" [ ! -e "$work/go-calls" ]
mv "$work/ssc-aside" "$ssc"

# The sync controller is built as upstream's Makefile builds it, in its own folder, which it leaves as
# it was (the peer folder is read-only material).
before=$(state_of_ssc)
before_openbao=$(state_of_openbao)
out=$(PATH="$work/stubs:$PATH" LAB_CACHE=$work/cache3 PEER_DIR=$peer "$here/build.sh" programs 2>&1)
rc=$?
check "build.sh programs builds with a complete peer folder (exit $rc)" [ "$rc" -eq 0 ]
call=$(grep "^$ssc: build " "$work/go-calls" 2>/dev/null)
check "the sync controller is built in its folder from ./cmd/main.go" grep -q -- ' ./cmd/main.go$' <<<"$call"
check "its build does not touch go.mod (-mod=readonly)" grep -q -- '-mod=readonly' <<<"$call"
check "its build stamps the VERSION file and the peer commit" \
  grep -q -- "BuildVersion=v0.0.4 .*Vcs=$PEER_SYNC_CONTROLLER_COMMIT" <<<"$call"
check "its build leaves the peer folder unchanged" [ "$before" = "$(state_of_ssc)" ]

# OpenBao's server and CSI provider: in their folders, read-only, stamped as their releases are, the
# server without the web UI's build tag.
call=$(grep "^$bao: build " "$work/go-calls" 2>/dev/null)
check "the OpenBao server is built in its folder from its root, read-only" \
  grep -qE -- '-mod=readonly .* \.$' <<<"$call"
check "the OpenBao server is stamped with its release and commit" \
  grep -q -- "fullVersion=$PEER_OPENBAO_VERSION .*GitCommit=$PEER_OPENBAO_COMMIT" <<<"$call"
check "the OpenBao server is built without the ui tag (no web UI in the peer folder)" \
  bash -c '! grep -q -- "-tags" <<<"$1"' _ "$call"
call=$(grep "^$bao_csi: build " "$work/go-calls" 2>/dev/null)
check "OpenBao's CSI provider is built in its folder, read-only, stamped" \
  grep -q -- "-mod=readonly .*BuildVersion=$PEER_OPENBAO_CSI_PROVIDER_VERSION" <<<"$call"
check "their builds leave the peer folder unchanged" [ "$before_openbao" = "$(state_of_openbao)" ]
first=$(LAB_CACHE=$work/cache3 PEER_DIR=$peer "$here/build.sh" path openbao)
echo "// changed" >>"$bao/main.go"
check "changed OpenBao sources give another cached path" \
  [ "$first" != "$(LAB_CACHE=$work/cache3 PEER_DIR=$peer "$here/build.sh" path openbao)" ]

# The cached build is keyed by the sources: a change of them is a new build, an unchanged folder is not.
first=$(LAB_CACHE=$work/cache3 PEER_DIR=$peer "$here/build.sh" path sync-controller)
check "the sync controller's cached path is under the cache" [ "${first#"$work/cache3/bin/peer-sync-controller-"}" != "$first" ]
check "the same sources give the same cached path" \
  [ "$first" = "$(LAB_CACHE=$work/cache3 PEER_DIR=$peer "$here/build.sh" path sync-controller)" ]
echo "// changed" >>"$ssc/cmd/main.go"
check "changed sources give another cached path" \
  [ "$first" != "$(LAB_CACHE=$work/cache3 PEER_DIR=$peer "$here/build.sh" path sync-controller)" ]

# Two builds at once (make test's background build and a lab test asking for the images) take
# turns: every go call of one ends before any of the other begins, and the second says it waits.
slow=$work/slow-stubs
mkdir -p "$slow"
cp "$work/stubs"/* "$slow/"
printf '#!/bin/sh
echo "begin $PPID" >>"%s/turns"
sleep 0.05
echo "end $PPID" >>"%s/turns"
exit 0
' "$work" "$work" >"$slow/go"
chmod +x "$slow/go"
PATH="$slow:$PATH" LAB_CACHE=$work/cache4 PEER_DIR=$peer "$here/build.sh" programs >"$work/first.out" 2>&1 &
first=$!
sleep 0.2
PATH="$slow:$PATH" LAB_CACHE=$work/cache4 PEER_DIR=$peer "$here/build.sh" programs >"$work/second.out" 2>&1
wait "$first"
check "two builds at once: the second waits for the first" grep -q "waiting for another peer build" "$work/second.out"
check "two builds at once: their go calls never overlap" \
  awk '$1 == "begin" { if (open) bad = 1; open = 1 } $1 == "end" { open = 0 } END { exit bad }' "$work/turns"
check "two builds at once: both ran their go calls ($(grep -c begin "$work/turns") calls)" \
  [ "$(grep -c begin "$work/turns")" -ge 4 ]

[ "$failures" -eq 0 ]
