# shellcheck shell=bash
# The lab's real node (make lab-up NODE=1), sourced by lab.sh: kube-scheduler, containerd and runc
# from Debian, and a kubelet, with every lab process inside the network namespace $NETNS. The node's
# address sits on a veth pair that stays inside that namespace (this kernel has no dummy
# interfaces), and the kubernetes Service's address on its loopback, so that pods reach the API
# server without kube-proxy and no traffic ever leaves the namespace.

netns_up() {
  ip netns list | grep -qw "$NETNS" || ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" addr replace "$SERVICE_IP/32" dev lo
  if ! ip -n "$NETNS" link show node0 >/dev/null 2>&1; then
    ip -n "$NETNS" link add node0 type veth peer name node1
  fi
  ip -n "$NETNS" addr replace "$NODE_IP/24" dev node0
  ip -n "$NETNS" link set node0 up
  ip -n "$NETNS" link set node1 up
}

netns_down() {
  local ns
  # Pod network namespaces that containerd made (named cni-*), then the lab's own.
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  ip netns del "$NETNS" 2>/dev/null || true
}

# The kubelet's folder, a shared mount so that the driver's tmpfs mounts (Bidirectional
# propagation) reach the pods. A marker says the lab made it, so that lab-down removes only that.
kubelet_dir_up() {
  mkdir -p "$KUBELET_ROOT"
  [ -e "$KUBELET_ROOT/.secrets-store-csi-lab" ] || touch "$KUBELET_ROOT/.secrets-store-csi-lab"
  if ! awk -v p="$KUBELET_ROOT" '$5 == p {found = 1} END {exit !found}' /proc/self/mountinfo; then
    mount --bind "$KUBELET_ROOT" "$KUBELET_ROOT"
  fi
  mount --make-rshared "$KUBELET_ROOT"
}

kubelet_dir_down() {
  local m
  [ -e "$KUBELET_ROOT/.secrets-store-csi-lab" ] || return 0
  for m in $(awk -v root="$KUBELET_ROOT" 'index($5, root) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "could not unmount $m"
  done
  rm -rf "$KUBELET_ROOT" /var/run/secrets-store-csi-providers /etc/kubernetes/secrets-store-csi-providers
}

containerd_socket() { echo "$NODE_STATE/containerd/containerd.sock"; }

write_node_config() {
  mkdir -p "$NODE_STATE/cni" "$NODE_STATE/containerd"
  cat >"$NODE_STATE/containerd.toml" <<EOF
version = 2
root = "$NODE_STATE/containerd/root"
state = "$NODE_STATE/containerd/state"
[grpc]
  address = "$(containerd_socket)"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:$PAUSE_TAG"
  # This machine forbids lowering oom_score_adj (the kubelet asks -998 for sandboxes): keep each
  # container's value at or above containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_STATE/cni"
EOF
  cat >"$NODE_STATE/cni/10-lab.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "lab",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
      "ipam": { "type": "host-local", "dataDir": "$NODE_STATE/cni-ipam",
                "ranges": [[{ "subnet": "10.244.0.0/24" }]], "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "loopback" }
  ]
}
EOF
  cat >"$NODE_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$(containerd_socket)
failSwapOn: false
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  x509: { clientCAFile: "$PKI/ca.crt" }
  webhook: { enabled: true }
  anonymous: { enabled: false }
authorization: { mode: Webhook }
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
resolvConf: ""
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
evictionHard: { memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# Pods, their Secret volumes and republishes are synced every 10 s instead of every minute, so
# that the tests see rotations quickly.
syncFrequency: 10s
EOF
}

containerd_ready() { [ -S "$(containerd_socket)" ] && ctr --address "$(containerd_socket)" version >/dev/null; }
kubelet_ready() { in_lab curl -sf "http://127.0.0.1:10248/healthz" | grep -q ok; }
scheduler_ready() { in_lab curl -skf "https://127.0.0.1:10259/healthz" | grep -q ok; }
node_ready() {
  in_lab "$(bin kubectl)" --kubeconfig "$STATE/kubeconfig" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

# Imports the node's images (the project's own once built) into containerd's k8s.io namespace.
import_images() {
  local image
  for image in $("$here/node-images.sh" list); do
    ctr --address "$(containerd_socket)" -n k8s.io images import --platform linux/amd64 "$image" >/dev/null
  done
}

# The driver, provider and sync controller images of this checkout (after make build), imported into
# the node.
import_project_images() {
  [ "$MODE" = node ] || return 0
  "$here/node-images.sh" project
  import_images
}

start_node() {
  kubelet_dir_up
  write_node_config
  start kube-scheduler "$(bin kube-scheduler)" --kubeconfig "$NODE_STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$NODE_STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$NODE_STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --v=1
  wait_for kube-scheduler 60 scheduler_ready || return 1
  start containerd containerd --config "$NODE_STATE/containerd.toml"
  wait_for containerd 30 containerd_ready || return 1
  import_images
  start kubelet "$(bin kubelet)" --config "$NODE_STATE/kubelet.yaml" \
    --kubeconfig "$NODE_STATE/kubelet.kubeconfig" --root-dir "$KUBELET_ROOT" \
    --node-ip "$NODE_IP" --hostname-override "$NODE_NAME" --v=1
  wait_for kubelet 60 kubelet_ready || return 1
  wait_for kubelet 120 node_ready || return 1
  # As on EKS, the node names its region: the AWS provider's default when a class names none.
  in_lab "$(bin kubectl)" --kubeconfig "$STATE/kubeconfig" label --overwrite node "$NODE_NAME" \
    "topology.kubernetes.io/region=$NODE_REGION" >/dev/null
}

# What the node started: the pods' processes (found through the kubelet's cgroups), containerd's
# shims, the kubelet's mounts, the kubelet's cgroups, the network namespaces.
stop_node_leftovers() {
  local pid dir
  for pid in $(cat /sys/fs/cgroup/pids/kubepods/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/cgroup.procs \
    /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in $(pgrep -f "containerd-shim.*$NODE_STATE" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  sleep 0.5
  kubelet_dir_down
  for dir in $(find /sys/fs/cgroup/*/kubepods -depth -type d 2>/dev/null); do rmdir "$dir" 2>/dev/null || true; done
  netns_down
}
