#!/usr/bin/env bash
# The lab: a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) and a real
# AWS-compatible endpoint on loopback (the lab's AWS gate, which answers as AWS does, in front of
# moto), for the integration and end-to-end tests.
#
#   lab.sh up        build what is missing, create the PKI on first start, start everything (idempotent);
#                    with LAB_NODE=1 (make lab-up NODE=1) also a real node: kubelet, containerd,
#                    kube-scheduler, all of the lab inside a network namespace of its own
#   lab.sh exec -- <command>   run a command where the lab is reachable (inside that namespace)
#   lab.sh down      stop every lab process and remove the cluster's data (idempotent)
#   lab.sh status    one line per component
#   lab.sh running   exit 0 when every component is up and the API server is ready
#   lab.sh env       shell exports for using the lab (KUBECONFIG, PATH, AWS_*)
#   lab.sh stop|start <component>   one component, for fault tests
#
# State lives in <repo>/.lab (git-ignored); binaries are cached outside the repository (build.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

STATE=${LAB_STATE_DIR:-$repo/.lab}
PKI=$STATE/pki
LOGS=$STATE/logs
PIDS=$STATE/pids

# Every port is on 127.0.0.1; they avoid the well-known defaults so a developer's own cluster can coexist.
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
APISERVER_PORT=16443
CONTROLLER_MANAGER_PORT=10257
# The lab's AWS endpoint is the gate (e2e/aws-gate, built by `make build`); moto sits behind it
# on loopback, and the gate's EKS Pod Identity agent answers on its own port.
AWS_PORT=15000
MOTO_PORT=15001
POD_IDENTITY_AGENT_PORT=15023
CLUSTER_NAME=lab
GATE_MAIN=$repo/e2e/aws-gate/dist/main.js
AWS_REGION_DEFAULT=us-east-1
SERVICE_ACCOUNT_ISSUER=https://kubernetes.default.svc

# The real node's mode: every lab process runs inside this network namespace, where the node's
# address sits on a veth pair that never leaves it (the kernel here has no dummy interfaces).
NETNS=sscsi-lab
NODE_NAME=lab-node
NODE_IP=10.201.0.10
# The kubernetes Service's address, on the namespace's loopback: pods reach the API server there
# without kube-proxy (the API server listens on 443 in this mode).
SERVICE_IP=10.0.0.1
KUBELET_ROOT=/var/lib/kubelet
NODE_STATE=$STATE/node
# The region the real node's label names, as the article's (ap-northeast-1).
NODE_REGION=ap-northeast-1

# host: loopback of this machine; node: the lab's network namespace with a real node.
MODE=$(cat "$STATE/mode" 2>/dev/null || echo host)
set_mode() {
  MODE=$1
  if [ "$MODE" = node ]; then
    COMPONENTS=(etcd kube-apiserver kube-controller-manager moto aws-gate kube-scheduler containerd kubelet)
    APISERVER_PORT=443
    PUBLIC_BIND=0.0.0.0
  else
    COMPONENTS=(etcd kube-apiserver kube-controller-manager moto aws-gate)
    APISERVER_PORT=16443
    PUBLIC_BIND=127.0.0.1
  fi
}
set_mode "$MODE"

# Runs a command in the lab's network (the namespace in node mode). nsenter enters only the network
# namespace: `ip netns exec` would also give the command a mount namespace of its own, hiding the
# kubelet's mounts (and /sys/fs/cgroup) from the rest of the machine.
in_lab() {
  if [ "$MODE" = node ]; then nsenter --net="/var/run/netns/$NETNS" "$@"; else "$@"; fi
}

say() { printf '[lab] %s\n' "$*" >&2; }
bin() { "$here/build.sh" path "$1"; }

# shellcheck source=node.sh
. "$here/node.sh"

# --- PKI ---------------------------------------------------------------------------------------

make_cert() { # name subject [subject-alt-names]
  local name=$1 subject=$2 ext=${3:-}
  # A certificate made before the lab needed another address is made again.
  if [ -f "$PKI/$name.crt" ] && [ -n "$ext" ]; then
    local want
    for want in $(echo "$ext" | tr ',' ' ' | sed -n 's/IP://gp'); do
      if ! openssl x509 -in "$PKI/$name.crt" -noout -text | grep -q "IP Address:$want"; then
        rm -f "$PKI/$name.crt"
        break
      fi
    done
  fi
  [ -f "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  local extfile="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$ext" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$ext"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$extfile"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$extfile" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$extfile"
}

make_kubeconfig() { # file user-cert-name
  local file=$1 name=$2
  mkdir -p "$(dirname "$file")"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $name
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
contexts:
- name: lab
  context:
    cluster: lab
    user: $name
    namespace: default
current-context: lab
EOF
}

ensure_pki() {
  mkdir -p "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    say "creating the lab's PKI in $PKI"
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=secrets-store-csi-lab-ca" -days 3650 -sha256 \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  make_cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:$SERVICE_IP,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  make_cert admin "/O=system:masters/CN=lab-admin"
  make_cert controller-manager "/CN=system:kube-controller-manager"
  # The API server's identity towards kubelets (exec, logs): its flags name this file in both modes.
  make_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  make_kubeconfig "$STATE/kubeconfig" admin
  make_kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
  if [ "$MODE" = node ]; then
    make_cert scheduler "/CN=system:kube-scheduler"
    make_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
    make_kubeconfig "$NODE_STATE/scheduler.kubeconfig" scheduler
    make_kubeconfig "$NODE_STATE/kubelet.kubeconfig" kubelet
  fi
}

# --- processes ---------------------------------------------------------------------------------

pid_of() { [ -f "$PIDS/$1.pid" ] && cat "$PIDS/$1.pid"; }
alive() { local pid; pid=$(pid_of "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

start() { # name command...
  local name=$1; shift
  if alive "$name"; then return 0; fi
  mkdir -p "$LOGS" "$PIDS"
  if [ "$MODE" = node ]; then
    setsid nsenter --net="/var/run/netns/$NETNS" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  else
    setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  fi
  echo $! >"$PIDS/$name.pid"
}

stop() { # name
  local name=$1 pid i
  pid=$(pid_of "$name") || return 0
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
}

# The end of a component's log, for a failure message: 20 lines, each cut short (some of
# Kubernetes' log lines run to thousands of characters).
log_tail() { # name
  tail -n 20 "$LOGS/$1.log" 2>/dev/null | cut -c1-300 | sed 's/^/    /' >&2 || true
}

wait_for() { # name seconds check-command...
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      say "$name exited while starting; the last lines of its log, $LOGS/$name.log:"
      log_tail "$name"
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      say "$name not ready after ${seconds}s; the last lines of its log, $LOGS/$name.log:"
      log_tail "$name"
      return 1
    fi
    sleep 0.3
  done
}

apiserver_ready() {
  in_lab curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" | grep -q ok
}
etcd_ready() { in_lab curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health" | grep -q true; }
controller_manager_ready() { in_lab curl -skf "https://127.0.0.1:$CONTROLLER_MANAGER_PORT/healthz" | grep -q ok; }
moto_ready() { in_lab curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" >/dev/null; }
gate_ready() { in_lab curl -sf "http://127.0.0.1:$AWS_PORT/gate/health" | grep -q ok; }

start_etcd() {
  mkdir -p "$STATE/etcd"
  start etcd "$(bin etcd)" --name lab --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lab=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn
  wait_for etcd 30 etcd_ready
}

start_apiserver() {
  start kube-apiserver "$(bin kube-apiserver)" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address "$PUBLIC_BIND" --advertise-address "$([ "$MODE" = node ] && echo "$NODE_IP" || echo 127.0.0.1)" \
    --secure-port "$APISERVER_PORT" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --authorization-mode Node,RBAC \
    --service-account-issuer "$SERVICE_ACCOUNT_ISSUER" \
    --service-account-signing-key-file "$PKI/sa.key" --service-account-key-file "$PKI/sa.pub" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --allow-privileged=true --profiling=false --v=1
  wait_for kube-apiserver 90 apiserver_ready
}

start_controller_manager() {
  local kc="$STATE/controller-manager.kubeconfig"
  start kube-controller-manager "$(bin kube-controller-manager)" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --controllers '*' --leader-elect=false \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --profiling=false --v=1
  wait_for kube-controller-manager 60 controller_manager_ready
}

start_moto() {
  # Only the gate talks to moto: loopback in both modes, so pods cannot go around the gate.
  # AWS's managed policies (arn:aws:iam::aws:policy/...), which upstream's suites and READMEs attach.
  start moto env MOTO_IAM_LOAD_MANAGED_POLICIES=true "$(bin moto_server)" -H 127.0.0.1 -p "$MOTO_PORT"
  wait_for moto 60 moto_ready
}

# The project's Node.js when the Makefile installed one, else the node on PATH.
node_bin() {
  if [ -x "$repo/.tools/node-v$NODE_VERSION/bin/node" ]; then echo "$repo/.tools/node-v$NODE_VERSION/bin/node"; else command -v node; fi
}

start_gate() {
  if [ ! -f "$GATE_MAIN" ]; then
    say "the lab's AWS gate is not built ($GATE_MAIN is missing): run make build"
    return 1
  fi
  # In node mode the gate listens where the node's pods reach it (the node's address) too.
  local bind=127.0.0.1
  [ "$MODE" = node ] && bind=0.0.0.0
  start aws-gate "$(node_bin)" "$GATE_MAIN" \
    --listen "$bind:$AWS_PORT" \
    --agent-listen "$bind:$POD_IDENTITY_AGENT_PORT,[::1]:$POD_IDENTITY_AGENT_PORT" \
    --upstream "http://127.0.0.1:$MOTO_PORT" \
    --kubeconfig "$STATE/kubeconfig" --issuer "$SERVICE_ACCOUNT_ISSUER" \
    --cluster-name "$CLUSTER_NAME" --cluster-region "$NODE_REGION" \
    --root-access-key-id lab --root-secret-access-key lab
  wait_for aws-gate 30 gate_ready
}

running() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  apiserver_ready
}

up() {
  if running; then
    say "the lab is already running"
    return 0
  fi
  local t0=$SECONDS
  # A half-started lab from an earlier run (in either mode) is stopped first.
  down quiet
  set_mode "$([ "${LAB_NODE:-0}" = 1 ] && echo node || echo host)"
  "$here/preflight.sh" "$MODE" || return 1
  "$here/build.sh" all
  if [ "$MODE" = node ]; then
    "$here/build.sh" node
    "$here/node-images.sh" base
  fi
  mkdir -p "$STATE"
  echo "$MODE" >"$STATE/mode"
  ensure_pki
  mkdir -p "$STATE/bin"
  ln -sf "$(bin kubectl)" "$STATE/bin/kubectl"
  ln -sf "$(bin helm)" "$STATE/bin/helm"
  ln -sf "$(bin csi-sanity)" "$STATE/bin/csi-sanity"
  # The project's Node.js (installed by the Makefile when the system's is older than 24), so that the
  # executables started from a lab shell run on the Node.js they are built for.
  if [ -x "$repo/.tools/node-v$NODE_VERSION/bin/node" ]; then
    ln -sf "$repo/.tools/node-v$NODE_VERSION/bin/node" "$STATE/bin/node"
  else
    rm -f "$STATE/bin/node"
  fi
  if [ "$MODE" = node ]; then
    netns_up
    say "starting etcd, kube-apiserver, kube-controller-manager, moto, the AWS gate and a node (kube-scheduler, containerd, kubelet) in network namespace $NETNS"
  else
    say "starting etcd, kube-apiserver, kube-controller-manager, moto and the AWS gate on 127.0.0.1"
  fi
  if ! { start_etcd && start_apiserver && start_controller_manager && start_moto && start_gate && { [ "$MODE" = host ] || start_node; }; }; then
    say "the lab failed to start; stopping what started"
    down quiet
    return 1
  fi
  say "the lab is up in $((SECONDS - t0))s; use it with: eval \"\$(make -s lab-env)\""
}

# Mounts that tests or the demo left under the state folder (a killed run), deepest first.
unmount_leftovers() {
  local m
  for m in $(awk -v root="$STATE/" 'index($5, root) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done
}

down() {
  local c quiet=${1:-}
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[$i]}"; done
  if [ "$MODE" = node ]; then stop_node_leftovers; fi
  unmount_leftovers
  rm -rf "$STATE/etcd" "$NODE_STATE" "$STATE/mode"
  set_mode host
  [ -n "$quiet" ] || say "the lab is down"
}

status() {
  local c state
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then state="running (pid $(pid_of "$c"))"; else state="stopped"; fi
    printf '%-24s %s\n' "$c" "$state"
  done
  if alive kube-apiserver && apiserver_ready; then
    printf '%-24s %s\n' "api server" "ready at https://127.0.0.1:$APISERVER_PORT"
  fi
  if alive aws-gate && gate_ready; then
    printf '%-24s %s\n' "AWS endpoint" "http://127.0.0.1:$AWS_PORT (the gate; moto behind it on :$MOTO_PORT), Pod Identity agent :$POD_IDENTITY_AGENT_PORT"
  fi
  if [ "$MODE" = node ]; then
    printf '%-24s %s\n' "node" "$NODE_NAME ($NODE_IP) in network namespace $NETNS$(node_ready && echo ', Ready')"
  fi
}

env_exports() {
  alive kube-apiserver || say "note: the lab is not running (make lab-up)"
  cat <<EOF
export KUBECONFIG='$STATE/kubeconfig'
export PATH='$STATE/bin':"\$PATH"
export AWS_ENDPOINT_URL='http://127.0.0.1:$AWS_PORT'
export AWS_REGION='$AWS_REGION_DEFAULT'
export AWS_ACCESS_KEY_ID='lab'
export AWS_SECRET_ACCESS_KEY='lab'
export LAB_STATE_DIR='$STATE'
export LAB_MOTO_URL='http://127.0.0.1:$MOTO_PORT'
export LAB_POD_IDENTITY_AGENT_URL='http://127.0.0.1:$POD_IDENTITY_AGENT_PORT/v1/credentials'
export LAB_POD_IDENTITY_AGENT_IPV6_URL='http://[::1]:$POD_IDENTITY_AGENT_PORT/v1/credentials'
export LAB_SERVICE_ACCOUNT_ISSUER='$SERVICE_ACCOUNT_ISSUER'
export LAB_MODE='$MODE'
EOF
  if [ "$MODE" = node ]; then
    cat <<EOF
export LAB_NETNS='$NETNS'
export LAB_NODE_NAME='$NODE_NAME'
export LAB_NODE_IP='$NODE_IP'
export LAB_NODE_REGION='$NODE_REGION'
export LAB_NODE_AWS_ENDPOINT_URL='http://$NODE_IP:$AWS_PORT'
export LAB_NODE_POD_IDENTITY_AGENT_URL='http://$NODE_IP:$POD_IDENTITY_AGENT_PORT/v1/credentials'
export LAB_CONTAINERD_SOCKET='$(containerd_socket)'
EOF
  fi
}

# Stops or starts one component, for fault tests (the API server going away and coming back).
component() { # stop|start name
  case "$2" in
    etcd | kube-apiserver | kube-controller-manager | moto | aws-gate) ;;
    *) say "unknown component $2"; return 2 ;;
  esac
  if [ "$1" = stop ]; then stop "$2"; return 0; fi
  case "$2" in
    etcd) start_etcd ;;
    kube-apiserver) start_apiserver ;;
    kube-controller-manager) start_controller_manager ;;
    moto) start_moto ;;
    aws-gate) start_gate ;;
  esac
}

# Runs a command where the lab is reachable: inside its network namespace in node mode.
lab_exec() {
  [ "${1:-}" = -- ] && shift
  if [ "$MODE" = node ]; then exec nsenter --net="/var/run/netns/$NETNS" "$@"; else exec "$@"; fi
}

# Tests source this file for its functions alone (e2e/src/lab-script.test.ts).
if [ "${LAB_SOURCE_ONLY:-}" = 1 ]; then return 0; fi

case "${1:-}" in
  up) up ;;
  exec) shift; lab_exec "$@" ;;
  images) import_project_images ;;
  stop | start) component "$1" "${2:-}" ;;
  down) down ;;
  status) status ;;
  running) running ;;
  env) env_exports ;;
  *) echo "usage: lab.sh up|down|status|running|env|exec -- <command>|images|stop <component>|start <component>" >&2; exit 2 ;;
esac
