#!/usr/bin/env bash
# Puts the lab back as it was before a suite ran (what `eksctl delete cluster` means here, and what
# e2e/peer/run.sh does between suites): the suites' pods first (their volumes need the driver to
# unmount; their Deployments, ReplicaSets, StatefulSets and Jobs before them), then every helm release and applied manifest that was not there at the start, the test
# namespaces, SecretProviderClasses, SecretSyncs, ServiceAccounts, Secrets and ConfigMaps made since,
# the ValidatingAdmissionPolicies, their bindings, ClusterRoles and ClusterRoleBindings made since (a
# release helm could not uninstall), the CRDs the sync controller's install added (its chart brings
# its own SecretSync and SecretProviderClass CRDs, which helm would leave), the sync controller's
# host providers folder, and the IAM roles and Pod Identity associations the eksctl stand-in created.
# The start's state is in $PEER_STATE/baseline-*, written by run.sh.
set -uo pipefail

say() { printf '[peer-reset] %s\n' "$*" >&2; }
: "${PEER_STATE:?run from e2e/peer/run.sh}"
# Without the start's state every object would look new: refuse rather than remove the lab's own.
if [ ! -s "$PEER_STATE/baseline-namespaces" ]; then
  say "no baseline in $PEER_STATE (run.sh records it at its start): nothing is reset"
  exit 0
fi
WAIT=${PEER_RESET_WAIT:-120}

baseline() { cat "$PEER_STATE/baseline-$1" 2>/dev/null; }
not_in() { # file: lines of stdin not in the file
  grep -vxF -f <(cat "$1" 2>/dev/null; echo '') || true
}

# Pods not run by a DaemonSet, as namespace/name.
workload_pods() {
  kubectl get pods -A -o json | jq -r '.items[] | select(([.metadata.ownerReferences[]?.kind] |
    index("DaemonSet")) | not) | "\(.metadata.namespace)/\(.metadata.name)"'
}

leftover_pods() { workload_pods | not_in "$PEER_STATE/baseline-pods"; }
all_new_pods() { kubectl get pods -A -o name | not_in "$PEER_STATE/baseline-all-pods"; }
new_namespaces() { kubectl get ns -o name | cut -d/ -f2 | not_in "$PEER_STATE/baseline-namespaces"; }

wait_until_empty() { # seconds command...
  local deadline=$((SECONDS + $1))
  shift
  while [ -n "$("$@")" ]; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 2
  done
}

delete_workloads() {
  local ns
  for ns in $(kubectl get ns -o name | cut -d/ -f2); do
    kubectl delete deployments,replicasets,statefulsets,jobs --all -n "$ns" --wait=false >/dev/null 2>&1
  done
  local p
  for p in $(leftover_pods); do
    kubectl delete pod -n "${p%%/*}" "${p#*/}" --grace-period=0 --wait=false >/dev/null 2>&1
  done
  if ! wait_until_empty "$WAIT" leftover_pods; then
    say "pods still there after ${WAIT}s, removed by force: $(leftover_pods | tr '\n' ' ')"
    for p in $(leftover_pods); do
      kubectl delete pod -n "${p%%/*}" "${p#*/}" --force --grace-period=0 >/dev/null 2>&1
    done
  fi
}

remove_releases_and_manifests() {
  local line ns name
  while read -r ns name; do
    [ -n "$name" ] && helm uninstall "$name" -n "$ns" --wait --timeout 120s >/dev/null 2>&1
  done < <(helm list -A -o json | jq -r '.[] | "\(.namespace) \(.name)"' | not_in "$PEER_STATE/baseline-releases")
  if [ -f "$PEER_STATE/applied-manifests" ]; then
    while read -r line; do
      [ -f "$line" ] && kubectl delete -f "$line" -n kube-system --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1
    done <"$PEER_STATE/applied-manifests"
    : >"$PEER_STATE/applied-manifests"
  fi
  wait_until_empty "$WAIT" all_new_pods || say "DaemonSet pods still there after ${WAIT}s: $(all_new_pods | tr '\n' ' ')"
}

remove_objects() {
  kubectl delete secretproviderclasses --all -A --ignore-not-found >/dev/null 2>&1
  kubectl delete secretsyncs.secret-sync.x-k8s.io --all -A --ignore-not-found >/dev/null 2>&1
  local ns kind name
  for ns in $(new_namespaces); do
    kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  done
  for ns in default kube-system; do
    for kind in serviceaccounts secrets configmaps; do
      for name in $(kubectl get "$kind" -n "$ns" -o name | not_in "$PEER_STATE/baseline-$ns-$kind"); do
        [ "$name" = configmap/lab-aws-ca ] || kubectl delete -n "$ns" "$name" --ignore-not-found >/dev/null 2>&1
      done
    done
  done
  wait_until_empty "$WAIT" new_namespaces || say "namespaces still there after ${WAIT}s: $(new_namespaces | tr '\n' ' ')"
}

# Cluster-wide objects of the kinds charts make that were not there at the start, and the CRDs the
# sync controller's install added. The driver suites' CRDs stay, as after helm uninstall.
remove_cluster_objects() {
  local kind name
  for kind in validatingadmissionpolicybindings validatingadmissionpolicies clusterrolebindings clusterroles; do
    [ -f "$PEER_STATE/baseline-$kind" ] || continue
    for name in $(kubectl get "$kind" -o name | not_in "$PEER_STATE/baseline-$kind"); do
      kubectl delete "$name" --ignore-not-found >/dev/null 2>&1
    done
  done
  if [ -f "$PEER_STATE/crds-made" ]; then
    for name in $(sort -u "$PEER_STATE/crds-made"); do
      kubectl delete crd "$name" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 ||
        say "the CRD $name could not be removed"
    done
    : >"$PEER_STATE/crds-made"
  fi
  # The staging chart's hostPath (DirectoryOrCreate) for the providers' sockets.
  [ -e "$PEER_STATE/baseline-sync-providers-folder" ] || rm -rf /var/run/secrets-store-sync-providers
  # The socket OpenBao's CSI provider leaves in the drivers' providers folder when it is stopped.
  rm -f /etc/kubernetes/secrets-store-csi-providers/openbao.sock
}

remove_aws_identities() {
  local role policy region cluster id
  if [ -f "$PEER_STATE/iam-roles" ]; then
    while read -r role; do
      for policy in $(aws iam list-attached-role-policies --role-name "$role" --query 'AttachedPolicies[].PolicyArn' --output text 2>/dev/null); do
        aws iam detach-role-policy --role-name "$role" --policy-arn "$policy"
      done
      aws iam delete-role --role-name "$role" 2>/dev/null
    done <"$PEER_STATE/iam-roles"
    : >"$PEER_STATE/iam-roles"
  fi
  if [ -f "$PEER_STATE/pod-identity-associations" ]; then
    while read -r region cluster id; do
      aws eks delete-pod-identity-association --region "$region" --cluster-name "$cluster" --association-id "$id" >/dev/null 2>&1
    done <"$PEER_STATE/pod-identity-associations"
    : >"$PEER_STATE/pod-identity-associations"
  fi
}

delete_workloads
remove_releases_and_manifests
remove_objects
remove_cluster_objects
remove_aws_identities
say "the lab is as before the suite"
exit 0
