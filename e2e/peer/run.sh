#!/usr/bin/env bash
# Runs upstream's own end-to-end suites (from the peer folder, unmodified) with bats on the lab's
# real node, against this repository's charts installed by helm, for each pairing of driver and
# provider (e2e/peer/README.md). Prints one line per suite and pairing:
#
#   peer <suite> <driver>/<provider>: N passed, M failed
#
# and writes a jest-shaped report to .test-results/peer.json (numPassedTests, numFailedTests) that
# .ci/run adds up. Run inside the lab's network namespace with the lab's environment, after
# e2e/peer/build.sh all and `lab.sh images` (make test-peer does all of this):
#
#   eval "$(e2e/lab/lab.sh env)" && e2e/lab/lab.sh exec -- e2e/peer/run.sh [PAIRING[:SUITE,...]...]
#
# PAIRING is ours/ours, ours/upstream or upstream/ours (default, or `all`: all three, and the
# baselines upstream/upstream:sync-controller and upstream/upstream:driver-openbao), each with every
# suite that applies, or with
# the suites named after a colon (e2e-provider, driver-aws, provider-aws-irsa,
# provider-aws-pod-identity, sync-controller, driver-openbao); PEER_SUITES limits the suites of a
# pairing named alone. driver-openbao is the driver's openbao.bats, with OpenBao's server and CSI
# provider (upstream's side of the pairing: the provider is OpenBao's in every pairing).
# A pairing is <driver>/<provider>, and for sync-controller <controller>/<provider>: ours/upstream is
# our sync controller with upstream's e2e mock provider as its sidecar, upstream/upstream upstream's
# controller (the baseline). upstream/upstream with other suites (upstream's driver and providers only)
# is accepted as a control of the lab.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

PEER_DIR=${PEER_DIR:-$(cd "$repo/.." && pwd)/shared/peer}
DRIVER_PEER=$PEER_DIR/secrets-store-csi-driver
PROVIDER_PEER=$PEER_DIR/secrets-store-csi-driver-provider-aws
SYNC_PEER=$PEER_DIR/secrets-store-sync-controller
export PEER_OPENBAO_CHART=$PEER_DIR/openbao-helm/charts/openbao
RESULTS=${PEER_RESULTS:-$repo/.test-results}
LOGS=${PEER_LOGS:-$repo/.lab/test-logs/peer}
export PEER_STATE=${LAB_STATE_DIR:-$repo/.lab}/peer
# Upper bound of one suite's run; upstream's own waits and sleeps add up to about 10 minutes.
SUITE_TIMEOUT=${PEER_SUITE_TIMEOUT:-1500}
ALL_SUITES="e2e-provider driver-aws provider-aws-irsa provider-aws-pod-identity sync-controller driver-openbao"
SUITES=${PEER_SUITES:-$ALL_SUITES}
RUNS=("$@")
if [ ${#RUNS[@]} -eq 0 ] || [ "${RUNS[*]}" = all ]; then
  RUNS=(ours/ours ours/upstream upstream/ours)
  # The sync controller's and OpenBao's suites under upstream's own controller and driver: the
  # baselines that say the lab can pass them at all.
  [[ " $SUITES " == *" sync-controller "* ]] && RUNS+=(upstream/upstream:sync-controller)
  [[ " $SUITES " == *" driver-openbao "* ]] && RUNS+=(upstream/upstream:driver-openbao)
fi

OURS_DRIVER_CHART=$repo/charts/secrets-store-csi-driver
OURS_PROVIDER_CHART=$repo/charts/secrets-store-csi-driver-provider-aws
OURS_PROVIDER_IMAGE_REPO=ghcr.io/sscsi-ts/secrets-store-csi-driver-provider-aws
PROVIDER_INSTALLER_URL=https://raw.githubusercontent.com/aws/secrets-store-csi-driver-provider-aws/main/deployment/aws-provider-installer.yaml
# The sync controller's suite: upstream's staging chart (what its `make helm-manifest-install`
# installs) or ours, in upstream's namespace.
SYNC_STAGING_CHART=$SYNC_PEER/manifest_staging/charts/secrets-store-sync-controller
OURS_SYNC_CHART=$repo/charts/secrets-store-sync-controller
OURS_SYNC_IMAGE_REPO=ghcr.io/sscsi-ts/secrets-store-sync-controller
SYNC_NAMESPACE=secrets-store-sync-controller-system
SYNC_CRDS="secretsyncs.secret-sync.x-k8s.io secretproviderclasses.secrets-store.csi.x-k8s.io"

say() { printf '[peer] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
# import_images, start_front, stop_front and the front's addresses and regions (AWS_REGIONS, FRONT_IP).
# shellcheck source=node-setup.sh
. "$here/node-setup.sh"

chart_app_version() { sed -n "s/^appVersion: *['\"]\{0,1\}\([^'\"]*\).*/\1/p" "$1/Chart.yaml"; }

# --- set-up --------------------------------------------------------------------------------------

check_lab() {
  [ "${LAB_MODE:-}" = node ] || die "the peer suites need the lab's real node: make lab-up NODE=1 (or make test)"
  [ -n "${AWS_ENDPOINT_URL:-}" ] && [ -n "${LAB_POD_IDENTITY_AGENT_URL:-}" ] ||
    die "the lab's environment lacks its AWS gate (AWS_ENDPOINT_URL, LAB_POD_IDENTITY_AGENT_URL): eval \"\$(e2e/lab/lab.sh env)\""
  [ -d "$DRIVER_PEER/test/bats" ] && [ -d "$PROVIDER_PEER/tests" ] && [ -d "$SYNC_PEER/test/bats" ] &&
    [ -f "$PEER_OPENBAO_CHART/Chart.yaml" ] ||
    die "upstream's test material is missing under $PEER_DIR"
  command -v bats >/dev/null || die "bats is missing: e2e/peer/build.sh tools"
}

record_baseline() {
  local ns kind
  kubectl get ns -o name | cut -d/ -f2 >"$PEER_STATE/baseline-namespaces"
  kubectl get pods -A -o name >"$PEER_STATE/baseline-all-pods"
  kubectl get pods -A -o json | jq -r '.items[] | "\(.metadata.namespace)/\(.metadata.name)"' >"$PEER_STATE/baseline-pods"
  helm list -A -o json | jq -r '.[] | "\(.namespace) \(.name)"' >"$PEER_STATE/baseline-releases"
  # Cluster-wide objects a chart makes and the reset removes when it did not (the sync controller's
  # admission policies and roles), and whether the sync controller's providers folder was there.
  for kind in validatingadmissionpolicies validatingadmissionpolicybindings clusterroles clusterrolebindings; do
    kubectl get "$kind" -o name >"$PEER_STATE/baseline-$kind"
  done
  [ -e /var/run/secrets-store-sync-providers ] && touch "$PEER_STATE/baseline-sync-providers-folder"
  for ns in default kube-system; do
    for kind in serviceaccounts secrets configmaps; do
      kubectl get "$kind" -n "$ns" -o name >"$PEER_STATE/baseline-$ns-$kind"
    done
  done
}

# The IAM role upstream's tests/README has the reader create for the Pod Identity suite.
create_pod_identity_role() {
  local trust='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}'
  POD_IDENTITY_ROLE_ARN=$(aws --region us-west-2 --query Role.Arn --output text iam create-role \
    --role-name pod-identity-role --assume-role-policy-document "$trust") || die "could not create pod-identity-role"
  export POD_IDENTITY_ROLE_ARN
  aws iam attach-role-policy --role-name pod-identity-role --policy-arn arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess
  aws iam attach-role-policy --role-name pod-identity-role --policy-arn arn:aws:iam::aws:policy/SecretsManagerReadWrite
}

delete_pod_identity_role() {
  aws iam detach-role-policy --role-name pod-identity-role --policy-arn arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess 2>/dev/null
  aws iam detach-role-policy --role-name pod-identity-role --policy-arn arn:aws:iam::aws:policy/SecretsManagerReadWrite 2>/dev/null
  aws iam delete-role --role-name pod-identity-role 2>/dev/null
  return 0
}

set_up() {
  check_lab
  rm -rf "$PEER_STATE" "$LOGS"
  mkdir -p "$PEER_STATE" "$LOGS" "$RESULTS"
  : >"$PEER_STATE/applied-manifests"
  # The suites' commands: this folder's stand-ins first, then the aws CLI's venv, then the lab's.
  export PEER_REAL_KUBECTL PEER_REAL_HELM
  PEER_REAL_KUBECTL=$(command -v kubectl) && PEER_REAL_HELM=$(command -v helm) ||
    die "the lab's kubectl and helm are not on PATH: eval \"\$(e2e/lab/lab.sh env)\""
  export PATH="$here/bin:$("$here/build.sh" path aws-venv)/bin:$PATH"
  export PEER_LAB_KUBECONFIG=$KUBECONFIG PEER_POD_IDENTITY_AGENT_ADDRESS=$POD_IDENTITY_AGENT_ADDRESS
  export PEER_AWS_ENDPOINT_URL=${LAB_NODE_AWS_ENDPOINT_URL:?} PEER_AWS_FRONT_IP=$FRONT_IP PEER_AWS_REGIONS=$AWS_REGIONS
  export PEER_URL_MAP=$PEER_STATE/url-map
  # Upstream's suites read the aws CLI's default region and credentials: the lab's account root.
  export AWS_DEFAULT_REGION=us-west-2
  import_images
  SET_UP_STARTED=1
  # With the ConfigMap lab-aws-ca, before the baseline: the resets between suites keep both.
  start_front
  start_service_front
  record_baseline
  create_pod_identity_role
}

# Undoes what set_up did, as far as it got.
tear_down() {
  [ "${SET_UP_STARTED:-}" = 1 ] || return 0
  "$here/lab-reset.sh" >>"$LOGS/reset.log" 2>&1
  delete_pod_identity_role
  stop_service_front
  stop_front
}

# --- pairings ------------------------------------------------------------------------------------

# Sets what the stand-ins and suites read for a pairing's two sides.
use_pairing() { # driver provider
  export PEER_DRIVER_CHART=$OURS_DRIVER_CHART
  case "$1" in
    ours) PEER_DRIVER_SETS="" ;;
    upstream) PEER_DRIVER_SETS="--set linux.image.repository=${PEER_DRIVER_IMAGE%:*} --set linux.image.tag=${PEER_DRIVER_IMAGE##*:}" ;;
  esac
  export PEER_DRIVER_SETS
  case "$2" in
    ours)
      PROVIDER_CHART=$OURS_PROVIDER_CHART
      PROVIDER_INSTALLER=$repo/deploy/aws-provider-installer.yaml
      PRIVREPO=$OURS_PROVIDER_IMAGE_REPO
      PRIVTAG=$(chart_app_version "$OURS_PROVIDER_CHART")
      ;;
    upstream)
      PROVIDER_CHART=$PROVIDER_PEER/charts/secrets-store-csi-driver-provider-aws
      PROVIDER_INSTALLER=$PROVIDER_PEER/deployment/aws-provider-installer.yaml
      PRIVREPO=${PEER_PROVIDER_AWS_IMAGE%:*}
      PRIVTAG=${PEER_PROVIDER_AWS_IMAGE##*:}
      ;;
  esac
  export PRIVREPO PRIVTAG
  echo "$PROVIDER_INSTALLER_URL $PROVIDER_INSTALLER" >"$PEER_URL_MAP"
}

# The driver as upstream's Makefile deploys it for its e2e suites (e2e-helm-deploy), from our chart.
install_driver() { # rotation-poll-interval
  # shellcheck disable=SC2086 # PEER_DRIVER_SETS is a list of arguments
  helm install csi-secrets-store "$PEER_DRIVER_CHART" --namespace kube-system --wait --timeout=5m \
    --set linux.image.pullPolicy=IfNotPresent --set syncSecret.enabled=true \
    --set enableSecretRotation=true --set rotationPollInterval="$1" \
    --set 'tokenRequests[0].audience=aud1' --set 'tokenRequests[1].audience=aud2' \
    --set 'tokenRequests[2].audience=conjur' --set 'tokenRequests[3].audience=api://AzureADTokenExchange' \
    --set 'tokenRequests[4].audience=sts.amazonaws.com' $PEER_DRIVER_SETS
}

# Upstream's mock provider as its Makefile deploys it (e2e-provider-deploy: the installer with the
# image it built).
install_mock_provider() {
  local manifest=$PEER_STATE/e2e-provider-installer.yaml
  sed "s|image: replace/this/image/at/build/time|image: $PEER_E2E_PROVIDER_IMAGE|" \
    "$DRIVER_PEER/test/e2eprovider/e2e-provider-installer.yaml" >"$manifest"
  echo "$manifest" >>"$PEER_STATE/applied-manifests"
  kubectl apply -n kube-system -f "$manifest" >/dev/null &&
    kubectl rollout status -n kube-system daemonset/csi-secrets-store-e2e-provider --timeout=120s >/dev/null
}

# The provider suites' working copy: they write generated files beside themselves and install the
# chart at ../charts/secrets-store-csi-driver-provider-aws, which is the pairing's provider chart
# (upstream's with its driver-chart dependency in charts/, as `helm dependency build` would put it).
provider_work_dir() {
  local work=$PEER_STATE/provider-aws
  rm -rf "$work" && mkdir -p "$work/charts"
  cp -r "$PROVIDER_PEER/tests" "$work/tests"
  cp -r "$PROVIDER_CHART" "$work/charts/secrets-store-csi-driver-provider-aws"
  chmod -R u+w "$work"
  if [ -f "$work/charts/secrets-store-csi-driver-provider-aws/Chart.lock" ]; then
    local gomod dep
    gomod=${GOMODCACHE_LAB:-${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-store-csi-lab}/go/mod}
    dep="$gomod/sigs.k8s.io/secrets-store-csi-driver@$PEER_DRIVER_VERSION/charts/secrets-store-csi-driver"
    mkdir -p "$work/charts/secrets-store-csi-driver-provider-aws/charts"
    "$PEER_REAL_HELM" package "$dep" -d "$work/charts/secrets-store-csi-driver-provider-aws/charts" >/dev/null ||
      return 1
  fi
  echo "$work/tests"
}

# Upstream's driver watches the Secrets it syncs and patches their owner references, which
# upstream's chart allows (its sync role has list, watch and patch) and ours does not (our driver
# reads by name and updates). The chart is ours in every pairing, so under upstream's driver the lab
# adds the three verbs its own chart would have granted.
grant_upstream_driver_secret_watch() {
  local manifest=$PEER_STATE/upstream-driver-secret-watch.yaml
  cat >"$manifest" <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: peer-upstream-driver-secret-watch
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["list", "watch", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: peer-upstream-driver-secret-watch
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: peer-upstream-driver-secret-watch
subjects:
  - kind: ServiceAccount
    name: secrets-store-csi-driver
    namespace: kube-system
YAML
  echo "$manifest" >>"$PEER_STATE/applied-manifests"
  kubectl apply -f "$manifest" >/dev/null
}

# The sync controller's chart and image for the pairing's controller half: upstream's staging chart
# with the image build.sh made under its values' name, or ours with our image.
sync_controller_chart() { # controller
  case "$1" in
    ours) echo "$OURS_SYNC_CHART" ;;
    upstream) echo "$SYNC_STAGING_CHART" ;;
  esac
}
sync_controller_image() { # controller
  case "$1" in
    ours) echo "$OURS_SYNC_IMAGE_REPO:$(chart_app_version "$OURS_SYNC_CHART")" ;;
    upstream) echo "$PEER_SYNC_CONTROLLER_IMAGE" ;;
  esac
}

in_node_containerd() { # image
  ctr --address "$LAB_CONTAINERD_SOCKET" -n k8s.io images ls -q "name==$1" 2>/dev/null | grep -q .
}

# Why a suite cannot start, before anything is installed (empty: it can).
cannot_start() { # suite driver provider
  [ "$1" = sync-controller ] || return 0
  local image
  image=$(sync_controller_image "$2")
  [ -d "$(sync_controller_chart "$2")" ] || echo "the sync controller's chart $(sync_controller_chart "$2") is missing"
  in_node_containerd "$image" ||
    echo "the sync controller's image $image is not in the node's containerd (ours: make lab-images; upstream's: e2e/peer/build.sh all)"
}

# The sync controller as upstream's `make helm-manifest-install` installs it: the staging chart's
# values with the providerContainer block uncommented by the Makefile's own sed (upstream's e2e
# provider as the sidecar), the image by --set, into secrets-store-sync-controller-system, --wait.
# The values file is written here, never in the peer folder. The CRDs the install adds (helm
# installs a chart's crds/ only where they are missing) are recorded for the reset.
install_sync_controller() { # controller
  local chart image values=$PEER_STATE/sync-controller-values.yaml crd
  chart=$(sync_controller_chart "$1")
  image=$(sync_controller_image "$1")
  sed '/providerContainer:/,/providervol:/s/^#//g' "$SYNC_STAGING_CHART/values.yaml" >"$values" || return 1
  for crd in $SYNC_CRDS; do
    kubectl get crd "$crd" >/dev/null 2>&1 || echo "$crd" >>"$PEER_STATE/crds-made"
  done
  helm install secrets-store-sync-controller --wait --timeout=5m \
    --namespace "$SYNC_NAMESPACE" --create-namespace -f "$values" \
    --set image.repository="${image%:*}" --set image.tag="${image##*:}" "$chart"
}

# What the controller's pods logged and the SecretSyncs' state, for a failure's diagnosis.
sync_controller_logs() { # file
  {
    kubectl get pods -n "$SYNC_NAMESPACE" -o wide
    kubectl logs -n "$SYNC_NAMESPACE" -l app=secrets-store-sync-controller --all-containers --prefix --tail=-1
    kubectl get secretsyncs -A -o yaml
  } >"$1" 2>&1
}

# What OpenBao's pods logged and the volumes' statuses, for a failure's diagnosis. The dev server
# prints its unseal key and root token at its start: those lines are left out.
openbao_logs() { # file
  {
    kubectl get pods -n openbao -o wide
    kubectl logs -n openbao --all-containers --prefix --tail=-1 -l app.kubernetes.io/instance=openbao |
      grep -vE 'Unseal Key:|Root Token:'
    kubectl get secretproviderclasspodstatuses -A -o yaml
  } >"$1" 2>&1
}

# Runs one suite under one pairing; its TAP output goes to the log.
run_suite() { # suite driver provider log
  local suite=$1 driver=$2 provider=$3 log=$4
  if [ "$driver" = upstream ] && [ "$suite" != sync-controller ]; then grant_upstream_driver_secret_watch || return 1; fi
  case "$suite" in
    e2e-provider)
      install_driver 30s && install_mock_provider || return 1
      (cd "$DRIVER_PEER" && timeout "$SUITE_TIMEOUT" bats -t test/bats/e2e-provider.bats)
      ;;
    driver-aws)
      # As upstream's initialize_eks_cluster.bash sets up its EKS cluster for this suite.
      eksctl utils associate-iam-oidc-provider --name lab --approve --region "$LAB_NODE_REGION" &&
        eksctl create iamserviceaccount --name basic-test-mount-sa --namespace kube-system --cluster lab \
          --attach-policy-arn arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess \
          --attach-policy-arn arn:aws:iam::aws:policy/SecretsManagerReadWrite \
          --override-existing-serviceaccounts --approve --region "$LAB_NODE_REGION" &&
        install_driver "$PEER_DRIVER_AWS_ROTATION_POLL_INTERVAL" || return 1
      (cd "$DRIVER_PEER" && REGION=$LAB_NODE_REGION timeout "$SUITE_TIMEOUT" bats -t test/bats/aws.bats)
      ;;
    provider-aws-irsa | provider-aws-pod-identity)
      local tests
      tests=$(provider_work_dir) || return 1
      (cd "$tests" && timeout "$SUITE_TIMEOUT" ./run-tests.sh "x64-${suite#provider-aws-}")
      ;;
    driver-openbao)
      # As upstream's Makefile runs it: after e2e-helm-deploy (rotation every 30 s), from the
      # repository root; the suite installs OpenBao's chart itself.
      install_driver 30s || return 1
      local rc=0
      (cd "$DRIVER_PEER" && timeout "$SUITE_TIMEOUT" bats -t test/bats/openbao.bats) || rc=$?
      openbao_logs "${log%.log}-pods.log"
      return $rc
      ;;
    sync-controller)
      # The first half of the pairing is the controller.
      install_sync_controller "$driver" || return 1
      local rc=0
      # As upstream's `make run-e2e-provider-tests`, from its repository root.
      (cd "$SYNC_PEER" && timeout "$SUITE_TIMEOUT" bats -t -T test/bats/e2e-provider.bats) || rc=$?
      sync_controller_logs "${log%.log}-pods.log"
      return $rc
      ;;
  esac
} >>"$4" 2>&1

# Which suites a pairing runs: the mock provider and OpenBao's provider are upstream's only, so
# e2e-provider, sync-controller and driver-openbao run where the provider side is upstream's.
applies() { # suite driver provider
  case "$1" in
    e2e-provider | sync-controller | driver-openbao) [ "$3" = upstream ] ;;
    *) true ;;
  esac
}

# --- results -------------------------------------------------------------------------------------

REPORT_ROWS=()

# Counts a suite's TAP into LINE and the report: every planned test that did not print "ok" failed (a suite cut short by its
# timeout, or whose set-up failed, counts all it did not pass).
count_suite() { # suite pairing log
  local suite=$1 pairing=$2 log=$3 planned passed skipped failed
  planned=$(grep -E '^1\.\.[0-9]+$' "$log" | tail -1 | cut -d. -f3)
  passed=$(grep -cE '^ok [0-9]+ ' "$log")
  skipped=$(grep -cE '^ok [0-9]+ .*# skip' "$log")
  passed=$((passed - skipped))
  if [ -z "$planned" ]; then
    planned=$(planned_tests "$suite")
  fi
  failed=$((planned - passed - skipped))
  [ "$failed" -ge 0 ] || failed=0
  LINE="peer $suite $pairing: $passed passed, $failed failed"
  REPORT_ROWS+=("$suite|$pairing|$passed|$failed|$skipped|$log")
}

# The number of tests a suite holds, for a run that never printed its plan.
planned_tests() { # suite
  case "$1" in
    e2e-provider) grep -c '^@test' "$DRIVER_PEER/test/bats/e2e-provider.bats" ;;
    driver-aws) grep -c '^@test' "$DRIVER_PEER/test/bats/aws.bats" ;;
    sync-controller) grep -c '^@test' "$SYNC_PEER/test/bats/e2e-provider.bats" ;;
    driver-openbao) grep -c '^@test' "$DRIVER_PEER/test/bats/openbao.bats" ;;
    *) grep -c '^@test' "$PROVIDER_PEER/tests/integration.bats.template" ;;
  esac
}

write_report() {
  python3 - "$RESULTS/peer.json" "${REPORT_ROWS[@]}" <<'PY'
import json, re, sys
out, rows = sys.argv[1], sys.argv[2:]
report = {"numPassedTests": 0, "numFailedTests": 0, "numPendingTests": 0, "testResults": []}
for row in rows:
    suite, pairing, passed, failed, skipped, log = row.split("|")
    passed, failed, skipped = int(passed), int(failed), int(skipped)
    report["numPassedTests"] += passed
    report["numFailedTests"] += failed
    report["numPendingTests"] += skipped
    results = []
    try:
        for line in open(log, errors="replace"):
            m = re.match(r"^(not ok|ok) \d+ (.*)$", line.rstrip("\n"))
            if m:
                title = m.group(2)
                status = "failed" if m.group(1) == "not ok" else ("pending" if "# skip" in title else "passed")
                results.append({"title": title, "status": status})
    except OSError:
        pass
    # Tests a suite never reached count as failed, as in the printed line.
    for i in range(failed - sum(1 for r in results if r["status"] == "failed")):
        results.append({"title": f"(not run {i + 1})", "status": "failed"})
    report["testResults"].append({
        "name": f"peer {suite} {pairing}",
        "status": "failed" if failed else "passed",
        "assertionResults": results,
    })
report["success"] = report["numFailedTests"] == 0
with open(out, "w") as f:
    json.dump(report, f, indent=1)
PY
}

# --- main ----------------------------------------------------------------------------------------

# What to run: each argument is a pairing, or a pairing with some suites (ours/upstream:e2e-provider).
JOBS=()
for spec in "${RUNS[@]}"; do
  pairing=${spec%%:*}
  case "$pairing" in ours/ours | ours/upstream | upstream/ours | upstream/upstream) ;; *) die "unknown pairing $pairing" ;; esac
  wanted=$SUITES
  [[ $spec == *:* ]] && wanted=$(tr ',' ' ' <<<"${spec#*:}")
  for suite in $wanted; do
    [[ " $ALL_SUITES " == *" $suite "* ]] || die "unknown suite $suite"
    applies "$suite" "${pairing%/*}" "${pairing#*/}" && JOBS+=("$pairing $suite")
  done
done
[ ${#JOBS[@]} -gt 0 ] || die "nothing to run"

trap tear_down EXIT
set_up
failed_any=0
current=""
for job in "${JOBS[@]}"; do
  read -r pairing suite <<<"$job"
  driver=${pairing%/*}
  provider=${pairing#*/}
  [ "$pairing" = "$current" ] || use_pairing "$driver" "$provider"
  current=$pairing
  log="$LOGS/${suite}-${driver}-${provider}.log"
  "$here/lab-reset.sh" >>"$LOGS/reset.log" 2>&1
  t0=$SECONDS
  reason=$(cannot_start "$suite" "$driver" "$provider")
  if [ -n "$reason" ]; then
    say "$suite $pairing cannot run: $reason"
    echo "peer: $reason" >>"$log"
  else
    run_suite "$suite" "$driver" "$provider" "$log" || true
  fi
  count_suite "$suite" "$pairing" "$log"
  echo "$LINE"
  say "$suite $pairing took $((SECONDS - t0))s; log: $log"
  [[ $LINE == *", 0 failed" ]] || failed_any=1
done
write_report
exit $failed_any
