#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the real parts, builds,
# checks formatting and vet, runs the unit and integration tests (real
# embedded etcd, real containerd and nftables in throwaway namespaces), then
# brings a 3-node lab up and runs the end-to-end tests against it.
# Run as root from a clone: sudo deploy/run-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "run-tests.sh: the tests drive containerd, network namespaces and nftables and must run as root; try: sudo $0" >&2
  exit 1
fi

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "installing dependencies"
bash deploy/install-deps.sh

step "building"
CGO_ENABLED=0 go build -o bin/ ./cmd/...

step "gofmt and go vet"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$bad" ]; then
  echo "gofmt would change these files:"; echo "$bad"; exit 1
fi
go vet ./...
go vet -tags e2e ./e2e/

step "unit and integration tests"
go test -count=1 -timeout 20m ./...

step "end-to-end tests on a 3-node lab"
./bin/ctl lab down >/dev/null 2>&1 || true
trap './bin/ctl lab down >/dev/null 2>&1 || true' EXIT
go test -count=1 -tags e2e -p 1 -timeout 25m -v ./e2e/
