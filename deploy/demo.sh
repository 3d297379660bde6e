#!/usr/bin/env bash
# The demo on a fresh machine: installs the real parts, builds minik8s,
# brings up a 3-node lab, applies the example Deployment and its Services,
# waits for the rollout and reaches the LoadBalancer IP from outside the
# cluster (this machine's root namespace), showing different pods answer.
# Run as root (a fresh Debian root login has no sudo) from a clone:
#   deploy/demo.sh    (bin/ctl lab down removes it all)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: the lab creates network namespaces and runs containerd, so it must run as root: run $0 as root" >&2
  exit 1
fi

bash deploy/install-deps.sh
echo "building minik8s into ./bin"
CGO_ENABLED=0 go build -o bin/ ./cmd/...
(cd cmd/coredns && CGO_ENABLED=0 go build -o ../../bin/ .)
ctl=./bin/ctl

# lbip SERVICE: the LoadBalancer IP the Service gets, within 60 s.
lbip() {
  local ip=""
  for _ in $(seq 1 60); do
    ip=$($ctl get svc "$1" -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null || true)
    if [ -n "$ip" ]; then
      echo "$ip"
      return 0
    fi
    sleep 1
  done
  echo "the Service $1 got no LoadBalancer IP; see: $ctl describe svc $1" >&2
  return 1
}

# answer URL: the first line of URL's answer, waiting up to 30 s for a
# Service that just got its LoadBalancer IP (the node that announces it
# and every node's proxy take a moment to program it).
answer() {
  for _ in $(seq 1 30); do
    if out=$(curl -s --max-time 3 "$1"); then
      printf '%s\n' "$out" | head -n 1
      return 0
    fi
    sleep 1
  done
  echo "no answer from $1 after 30 s; see: $ctl get svc -o wide; $ctl get endpointslices; $ctl lab logs kubelet-node1" >&2
  return 1
}

$ctl lab up --nodes 3
$ctl apply -f deploy/examples/
$ctl rollout status deployment/echo --timeout=120s
$ctl get pods -o wide
$ctl get svc

lb=$(lbip echo-lb)
port=$($ctl get svc echo-lb -o jsonpath='{.spec.ports[0].port}')
echo
echo "reaching http://$lb:$port/ from outside the cluster, 6 times:"
for _ in $(seq 1 6); do
  answer "http://$lb:$port/"
done

echo
echo "from a Dockerfile to a Deployment (deploy/examples/hello, no Docker):"
$ctl image build -t hello:v1 deploy/examples/hello/
$ctl create deployment hello --image=hello:v1 --dry-run=client -o yaml | $ctl apply -f -
$ctl expose deployment hello --port 80 --target-port 8080 --type LoadBalancer --dry-run=client -o yaml | $ctl apply -f -
$ctl rollout status deployment/hello --timeout=120s
hello=$(lbip hello)
answer "http://$hello/cgi-bin/hello"
echo "the lab keeps running; try: $ctl get pods -o wide; $ctl lab status; remove it with: $ctl lab down"
