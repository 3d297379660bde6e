#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the real parts, builds,
# checks formatting and vet, runs the unit and integration tests (real
# embedded etcd, real containerd and nftables in throwaway namespaces), then
# brings a 3-node lab up and runs the end-to-end tests against it.
# Run as root (a fresh Debian root login has no sudo) from a clone:
#   deploy/run-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "run-tests.sh: the tests drive containerd, network namespaces and nftables and must run as root: run $0 as root" >&2
  exit 1
fi

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# The build cache and the test binaries (a few hundred MB each, linked in
# $TMPDIR) need room: a run that fills the disk fails as a hundred
# unrelated "no space left on device" build errors, so say it first.
need_gib=10
for dir in "${TMPDIR:-/tmp}" "$(go env GOCACHE)"; do
  mkdir -p "$dir"
  free_gib=$(( $(df -Pk "$dir" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
  if [ "$free_gib" -lt "$need_gib" ]; then
    echo "run-tests.sh: $dir has ${free_gib} GiB free; the tests need about ${need_gib} GiB (build cache and test binaries). Free some: go clean -cache (rebuilt on the next run), or old clones and lab scratch under /tmp" >&2
    exit 1
  fi
done

step "installing dependencies"
bash deploy/install-deps.sh

step "building"
CGO_ENABLED=0 go build -o bin/ ./cmd/...
# CoreDNS (the lab's cluster DNS) is a module of its own, so its
# dependency tree stays out of go.mod; ./cmd/... leaves it out.
(cd cmd/coredns && CGO_ENABLED=0 go build -o ../../bin/ .)

step "gofmt and go vet"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$bad" ]; then
  echo "gofmt would change these files:"; echo "$bad"; exit 1
fi
go vet ./...
go vet -tags e2e ./e2e/
(cd cmd/coredns && go vet ./...)

# Every test runs under go test -json, read by deploy/testreport: it prints
# what plain go test prints, fails the run on a skip that
# deploy/test-skips.txt does not allow, and ends with "N passed, N failed,
# N skipped". A test that skips because this machine lacks something is a
# test that did not run: give it what it needs here instead.
go build -o bin/testreport ./deploy/testreport
report() { ./bin/testreport -skips deploy/test-skips.txt "$@"; }

step "preparing the machine for the tests"
# The lab's network test builds a lab network of its own and cannot while a
# lab runs.
./bin/ctl lab down
# The proxy's e2e test turns bridge netfilter off in a node to check the
# masquerade without it; that needs the br_netfilter module.
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  modprobe br_netfilter || {
    echo "run-tests.sh: cannot load br_netfilter (modprobe is in Debian's kmod package); the proxy's e2e test needs it" >&2
    exit 1
  }
fi

step "unit and integration tests"
go test -count=1 -timeout 20m -json ./... | report

step "data races (go test -race)"
# Again under the race detector, the packages whose goroutines share the
# most state and whose tests run on fakes (no apiserver in the race build):
# the controllers on client-go's informers, work queues and expectations,
# leader election, the network-namespace helper and the container logger.
# A race fails the run. The apiserver's, the agent's, the scheduler's and
# the proxy's tests start a real apiserver or containerd: their race build
# and run would add more than the few minutes this step may take of CI's
# 30 (README, "Testing").
race_pkgs=()
for c in certificates clusterroleaggregation deployment disruption endpointslice \
         expectations loadbalancer namespace nodeipam nodelifecycle pvbinder reconcile \
         replicaset rootcacertpublisher serviceaccount tokencleaner; do
  race_pkgs+=("./pkg/controllers/$c")
done
go test -race -count=1 -timeout 15m -json "${race_pkgs[@]}" ./pkg/election ./pkg/netns ./pkg/containerlog | report

step "upstream kube-scheduler, kube-controller-manager and kube-proxy against the apiserver"
# A module of its own (k8s.io/kubernetes's commands stay out of go.sum):
# builds the three at the release matching our k8s.io/* modules; kube-proxy
# runs in a network namespace of its own (root and nft needed).
(cd e2e/upstream && go vet ./...)
(cd e2e/upstream && go test -count=1 -timeout 20m -json ./...) | report -tests

step "end-to-end tests on a 3-node lab"
# Only when a step fails does the lab come down on a best-effort basis;
# the normal path below downs it and fails if that fails.
trap './bin/ctl lab down >/dev/null 2>&1 || true' EXIT
go test -count=1 -tags e2e -p 1 -timeout 25m -json ./e2e/ | report -tests

step "lab down"
trap - EXIT
./bin/ctl lab down
