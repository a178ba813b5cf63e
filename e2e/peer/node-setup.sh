#!/usr/bin/env bash
# What upstream's programs need on the lab's real node, shared by the peer runner (run.sh sources
# this file) and the tests that run upstream's driver and AWS provider there themselves
# (e2e/tests/switch-in-place.test.ts):
#
#   node-setup.sh images       the peer images (build.sh images: built once, then cached) imported
#                              into the node's containerd
#   node-setup.sh front-up     the AWS front (aws-front.py: TLS for AWS's STS host names, the EKS Pod
#                              Identity agent's address) and the ConfigMap lab-aws-ca, which the
#                              rendered AWS provider manifests mount
#   node-setup.sh front-down   undoes front-up
#   node-setup.sh render       an AWS provider's manifests (stdin) pointed at the lab's AWS (stdout):
#                              lab-aws-render.py with the peer venv's Python (build.sh tools)
#   node-setup.sh driver-chart the folder of upstream's driver chart (after `images`)
#
# Run inside the lab's network namespace with the lab's environment (e2e/lab/lab.sh exec, env).
# PEER_STATE is the folder of the front's key, certificate and process ID; PEER_LOGS that of its log
# (default: PEER_STATE).

node_setup_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The lab's stand-ins for AWS addresses a provider has built in (aws-front.py): the EKS Pod Identity
# agent's, and a TLS address that AWS's STS host names resolve to in the provider's pod.
POD_IDENTITY_AGENT_ADDRESS=169.254.170.23:80
FRONT_IP=10.201.0.20
FRONT_TLS_PORT=15443
# Regions the suites use: upstream's us-west-2 and us-east-2 (failover), the lab node's region.
AWS_REGIONS="us-west-2 us-east-2 us-east-1 ${LAB_NODE_REGION:-ap-northeast-1}"

declare -F say >/dev/null || say() { printf '[peer] %s\n' "$*" >&2; }
declare -F die >/dev/null || die() {
  say "$*"
  exit 1
}

import_images() {
  local images tar
  images=$("$node_setup_dir/build.sh" path images)
  [ -f "$images/images.key" ] || die "the peer images are not built: e2e/peer/build.sh all"
  for tar in "$images"/*.tar; do
    ctr --address "$LAB_CONTAINERD_SOCKET" -n k8s.io images import --platform linux/amd64 "$tar" >/dev/null ||
      die "importing $tar into the node's containerd failed"
  done
}

# host:port of an http URL
host_port() { local u=${1#*://}; echo "${u%%/*}"; }

front_log() { echo "${LOGS:-${PEER_LOGS:-$PEER_STATE}}/aws-front.log"; }

start_front() {
  local pki=$LAB_STATE_DIR/pki san r
  san="DNS:sts.amazonaws.com"
  for r in $AWS_REGIONS; do san+=",DNS:sts.$r.amazonaws.com"; done
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PEER_STATE/front.key" -subj "/CN=sts.amazonaws.com" \
    -out "$PEER_STATE/front.csr" 2>/dev/null &&
    openssl x509 -req -in "$PEER_STATE/front.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
      -days 2 -sha256 -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") \
      -out "$PEER_STATE/front.crt" 2>/dev/null || die "could not make the front's certificate"
  ip addr replace "${POD_IDENTITY_AGENT_ADDRESS%:*}/32" dev lo
  ip addr replace "$FRONT_IP/32" dev lo
  # The API server holds port 443 on every address of the namespace: the pods' connections to the
  # front's 443 are sent to its own port.
  iptables -w -t nat -C PREROUTING -d "$FRONT_IP/32" -p tcp --dport 443 -j DNAT --to-destination "$FRONT_IP:$FRONT_TLS_PORT" 2>/dev/null ||
    iptables -w -t nat -A PREROUTING -d "$FRONT_IP/32" -p tcp --dport 443 -j DNAT --to-destination "$FRONT_IP:$FRONT_TLS_PORT"
  python3 "$node_setup_dir/aws-front.py" --cert "$PEER_STATE/front.crt" --key "$PEER_STATE/front.key" \
    --tls "$FRONT_IP:$FRONT_TLS_PORT=$(host_port "$AWS_ENDPOINT_URL")" \
    --plain "$POD_IDENTITY_AGENT_ADDRESS=$(host_port "$LAB_POD_IDENTITY_AGENT_URL")" \
    </dev/null >>"$(front_log)" 2>&1 &
  echo $! >"$PEER_STATE/front.pid"
  # The lab's CA, which the rendered provider pods trust (SSL_CERT_FILE) for the front's certificate.
  kubectl create configmap lab-aws-ca -n kube-system --from-file=ca.crt="$LAB_STATE_DIR/pki/ca.crt" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null || die "could not create the ConfigMap lab-aws-ca"
  local i
  for i in $(seq 1 50); do
    curl -s -o /dev/null "http://$POD_IDENTITY_AGENT_ADDRESS/" && return 0
    sleep 0.2
  done
  die "the AWS front did not start; see $(front_log)"
}

stop_front() {
  local pid
  pid=$(cat "$PEER_STATE/front.pid" 2>/dev/null)
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    # This shell's child (run.sh) is waited for; one that another command started, until it is gone.
    local i
    wait "$pid" 2>/dev/null || for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$PEER_STATE/front.pid"
  kubectl delete configmap lab-aws-ca -n kube-system --ignore-not-found >/dev/null 2>&1
  iptables -w -t nat -D PREROUTING -d "$FRONT_IP/32" -p tcp --dport 443 -j DNAT --to-destination "$FRONT_IP:$FRONT_TLS_PORT" 2>/dev/null
  ip addr del "${POD_IDENTITY_AGENT_ADDRESS%:*}/32" dev lo 2>/dev/null
  ip addr del "$FRONT_IP/32" dev lo 2>/dev/null
  return 0
}

# The lab's stand-in for kube-proxy for the Services a suite's pods call by name (service-front.py),
# on the front's address, which start_front put on the namespace's lo; the pods get the names from
# lab-service-render.py (helm's post-renderer in bin/helm), which reads the two settings exported.
SERVICE_FRONT_ROUTES="$FRONT_IP:8200=openbao/openbao:8200"
start_service_front() {
  export PEER_SERVICE_FRONT_IP=$FRONT_IP PEER_SERVICE_FRONT_SERVICES="openbao/openbao"
  PATH="$(dirname "${PEER_REAL_KUBECTL:-$(command -v kubectl)}"):$PATH" python3 "$node_setup_dir/service-front.py" \
    $SERVICE_FRONT_ROUTES </dev/null >>"${LOGS:-$PEER_STATE}/service-front.log" 2>&1 &
  echo $! >"$PEER_STATE/service-front.pid"
  # Listening once it says so (a test connection would make it look up a Service not there yet).
  local i
  for i in $(seq 1 50); do
    grep -q " -> service " "${LOGS:-$PEER_STATE}/service-front.log" 2>/dev/null && return 0
    sleep 0.2
  done
  die "the service front did not start; see ${LOGS:-$PEER_STATE}/service-front.log"
}
stop_service_front() {
  local pid
  pid=$(cat "$PEER_STATE/service-front.pid" 2>/dev/null)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null || sleep 0.5; }
  rm -f "$PEER_STATE/service-front.pid"
  return 0
}

# An AWS provider's manifests pointed at the lab's AWS (lab-aws-render.py reads these settings).
render_for_lab() {
  PEER_AWS_ENDPOINT_URL=${LAB_NODE_AWS_ENDPOINT_URL:?} PEER_AWS_FRONT_IP=$FRONT_IP PEER_AWS_REGIONS=$AWS_REGIONS \
    "$("$node_setup_dir/build.sh" path aws-venv)/bin/python3" "$node_setup_dir/lab-aws-render.py"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  [ "${LAB_MODE:-}" = node ] || die "upstream's programs need the lab's real node: make lab-up NODE=1"
  case "${1:-}" in
    images) "$node_setup_dir/build.sh" images && import_images ;;
    front-up | front-down)
      : "${PEER_STATE:?PEER_STATE names the folder of the front}"
      mkdir -p "$PEER_STATE"
      if [ "$1" = front-up ]; then start_front; else stop_front; fi
      ;;
    render) "$node_setup_dir/build.sh" tools && render_for_lab ;;
    driver-chart) "$node_setup_dir/build.sh" path driver-chart ;;
    *) die "usage: node-setup.sh images|front-up|front-down|render|driver-chart" ;;
  esac
fi
