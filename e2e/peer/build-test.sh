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
# go records that it was asked to build something.
printf '#!/bin/sh\necho "$*" >>"%s/go-calls"\nexit 0\n' "$work" >"$work/stubs/go"
for c in bats envsubst jq; do printf '#!/bin/sh\nexit 0\n' >"$work/stubs/$c"; done
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

[ "$failures" -eq 0 ]
