#!/usr/bin/env bash
# Kubernetes' conformance tests (e2e.test, ginkgo) on a minik8s lab.
#
# Builds e2e.test, ginkgo, kubectl and the test images' programs from the
# Go module proxy at the release of minik8s's k8s.io/* modules (this
# directory's go.mod), brings a lab up, pushes stand-ins for the e2e images
# to the lab registry (the lab has no internet: see README "Conformance"),
# runs a focus in parallel, brings the lab down and writes the JUnit report
# and summary.md (passed/failed/skipped per SIG, each failure's first
# line). The lab part holds /tmp/minik8s-lab.lock throughout.
#
#   e2e/conformance/run.sh                        # [Conformance] minus [Serial]/[Disruptive]
#   e2e/conformance/run.sh --focus '\[sig-node\].*\[Conformance\]' --timeout 10m
#
# Run as root, with minik8s's binaries built (README "Quick start": bin/,
# or --bin DIR / $MINIK8S_BIN).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
self=$here/$(basename "$0")
repo=$(cd "$here/../.." && pwd)

FOCUS='\[Conformance\]'
SKIP='\[Disruptive\]|\[Serial\]'
PROCS=4
TIMEOUT=3h
NODES=3
OUT=/tmp/minik8s-conformance
BIN=${MINIK8S_BIN:-$repo/bin}
LOCK=/tmp/minik8s-lab.lock
BUILD_ONLY=

usage() {
  cat <<EOF
usage: $0 [--focus RE] [--skip RE] [--procs N] [--timeout DURATION] [--nodes N] [--out DIR] [--bin DIR] [--build-only]
  --focus RE       specs to run (default: $FOCUS)
  --skip RE        specs to leave out (default: $SKIP; '' for none)
  --procs N        ginkgo's parallel processes (default: $PROCS)
  --timeout D      ginkgo's suite timeout, e.g. 15m (default: $TIMEOUT)
  --nodes N        lab nodes (default: $NODES)
  --out DIR        binaries, report, logs and summary (default: $OUT)
  --bin DIR        minik8s's binaries: ctl, apiserver, …, coredns (default: \$MINIK8S_BIN or $repo/bin)
  --build-only     build e2e.test and the rest, bring no lab up
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --focus) FOCUS=$2; shift 2 ;;
    --skip) SKIP=$2; shift 2 ;;
    --procs) PROCS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    --in-lock) IN_LOCK=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

# Absolute, since the build runs in this directory.
OUT=$(realpath -m "$OUT")
BIN=$(realpath -m "$BIN")

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# build compiles the test programs into $OUT/bin and records how long each
# took and its size in $OUT/build.txt.
build() {
  mkdir -p "$OUT/bin"
  : > "$OUT/build.txt"
  cd "$here"
  one() { # name, command...
    local name=$1 start; shift
    start=$(date +%s)
    CGO_ENABLED=0 "$@"
    printf '%-10s %4ds %6d MB\n' "$name" $(( $(date +%s) - start )) $(( $(stat -c %s "$OUT/bin/$name") / 1000000 )) | tee -a "$OUT/build.txt"
  }
  # The version stamps upstream's build (hack/lib/version.sh) writes with
  # -X: without them kubectl says v0.0.0-master+$Format:%H$, which its
  # own `version` refuses to parse, and e2e.test picks pod-security
  # fixtures for "v0.0" and finds none.
  local v major minor ld=() pkg
  v=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
  major=${v#v}; major=${major%%.*}
  minor=${v#v*.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    # No gitCommit: the module proxy's zip has no commit to name.
    ld+=("-X $pkg.gitVersion=$v" "-X $pkg.gitMajor=$major" "-X $pkg.gitMinor=$minor")
  done
  local ldflags="${ld[*]}"
  one e2e.test go test -c -vet=off -ldflags "$ldflags" -o "$OUT/bin/e2e.test" ./suite
  one ginkgo go build -o "$OUT/bin/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
  one kubectl go build -ldflags "$ldflags" -o "$OUT/bin/kubectl" k8s.io/kubernetes/cmd/kubectl
  one agnhost go build -ldflags "$ldflags" -o "$OUT/bin/agnhost" k8s.io/kubernetes/test/images/agnhost
  one nnp go build -o "$OUT/bin/nnp" k8s.io/kubernetes/test/images/nonewprivs
  one summary go build -o "$OUT/bin/summary" ./summary
  one imagelist go build -o "$OUT/bin/imagelist" ./imagelist
  busybox
}

# The busybox of the busybox stand-in: upstream's image is Docker Hub's
# busybox:1.37.0, busybox built from its release with the default
# configuration. Debian's busybox (the toolbox's) cannot stand in: Debian
# reverts upstream's ash change that passes variables with names a shell
# cannot use (data-1=value-1) on to the programs it runs, which the
# ConfigMap and Secret "consumable via the environment" specs read with
# `sh -c env`. Built static from the release tarball (Debian's pristine
# copy, or busybox.net's), checked against its SHA-256; kept across runs.
BUSYBOX_VERSION=1.37.0
BUSYBOX_SHA256=3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4
busybox() {
  local bin="$OUT/bin/busybox" have=
  if [ -x "$bin" ]; then have=$("$bin" --help 2>&1 || true); fi
  if [[ "$have" == "BusyBox v$BUSYBOX_VERSION "* ]]; then
    printf '%-10s %4ds %6d MB (kept)\n' busybox 0 $(( $(stat -c %s "$bin") / 1000000 )) | tee -a "$OUT/build.txt"
    return
  fi
  one busybox buildBusybox "$bin"
}

# buildBusybox downloads, checks and builds busybox's release into $1.
buildBusybox() {
  local bin=$1 src="$OUT/src" tarball
  mkdir -p "$src"
  tarball="$src/busybox-$BUSYBOX_VERSION.tar.bz2"
  if ! echo "$BUSYBOX_SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
    curl -fsSL -o "$tarball" "http://deb.debian.org/debian/pool/main/b/busybox/busybox_$BUSYBOX_VERSION.orig.tar.bz2" ||
      curl -fsSL -o "$tarball" "https://busybox.net/downloads/busybox-$BUSYBOX_VERSION.tar.bz2" || {
      echo "run.sh: cannot download busybox $BUSYBOX_VERSION (deb.debian.org or busybox.net); put its release tarball at $tarball" >&2
      return 1
    }
    echo "$BUSYBOX_SHA256  $tarball" | sha256sum -c --status || {
      echo "run.sh: $tarball is not busybox $BUSYBOX_VERSION's release (SHA-256 differs)" >&2
      return 1
    }
  fi
  rm -rf "$src/busybox-$BUSYBOX_VERSION"
  tar -xjf "$tarball" -C "$src"
  (
    cd "$src/busybox-$BUSYBOX_VERSION"
    make defconfig > "$src/busybox-build.log" 2>&1
    sed -i 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' .config
    make -j"$(nproc)" >> "$src/busybox-build.log" 2>&1
  ) || {
    echo "run.sh: building busybox $BUSYBOX_VERSION failed (needs gcc, make, bzip2 and the static C library, package libc6-dev):" >&2
    tail -20 "$src/busybox-build.log" >&2
    return 1
  }
  install -m 0755 "$src/busybox-$BUSYBOX_VERSION/busybox" "$bin"
}

# repoList maps every e2e registry to the lab registry, so e2e.test's
# images are 10.200.0.1:5000/… (KUBE_TEST_REPO_LIST, read by
# test/utils/image). The invalid and private registries stay: tests expect
# pulls from them to fail.
repoList() {
  local r=10.200.0.1:5000
  cat > "$OUT/repo-list.yaml" <<EOF
promoterE2eRegistry: $r/e2e-test-images
buildImageRegistry: $r/build-image
gcEtcdRegistry: $r/k8s
gcRegistry: $r/k8s
sigStorageRegistry: $r/sig-storage
dockerLibraryRegistry: $r/library
cloudProviderGcpRegistry: $r/cloud-provider-gcp
invalidRegistry: invalid.registry.k8s.io/invalid
privateRegistry: gcr.io/k8s-authenticated-test
EOF
}

# images builds the stand-ins (images/*/Dockerfile) into the lab registry
# under the names e2e.test pulls.
images() {
  local mod
  mod=$(cd "$here" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  local list dirs dir ctx
  list=$(KUBE_TEST_REPO_LIST="$OUT/repo-list.yaml" "$OUT/bin/imagelist")
  dirs=$(echo "$list" | awk '!seen[$1]++ {print $1}')
  rm -rf "$OUT/images"
  for dir in $dirs; do
    ctx="$OUT/images/$dir"
    mkdir -p "$ctx"
    cp -r "$here/images/$dir/." "$ctx/"
    local args=() base=
    case "$dir" in
      agnhost) cp "$OUT/bin/agnhost" "$mod/test/images/agnhost/porter/localhost.crt" "$mod/test/images/agnhost/porter/localhost.key" "$ctx/" ;;
      pause) cp "$OUT/bin/agnhost" "$ctx/" ;;
      busybox) cp "$OUT/bin/busybox" "$ctx/" ;;
      kitten|nautilus) cp "$mod/test/images/$dir/html/"* "$ctx/"; base=$(echo "$list" | awk '$1=="agnhost" {print $2; exit}') ;;
      nonroot) base=$(echo "$list" | awk '$1=="busybox" {print $2; exit}') ;;
      nonewprivs) cp "$OUT/bin/nnp" "$ctx/"; base=$(echo "$list" | awk '$1=="busybox" {print $2; exit}') ;;
    esac
    chmod -R a+rX "$ctx"
    if [ -n "$base" ]; then args+=(--build-arg "BASE=$base"); fi
    for ref in $(echo "$list" | awk -v d="$dir" '$1==d {print $2}'); do args+=(-t "$ref"); done
    "$BIN/ctl" image build "${args[@]}" "$ctx" > "$OUT/logs/image-$dir.log" 2>&1 || {
      echo "run.sh: building the $dir image failed:"; tail -20 "$OUT/logs/image-$dir.log"; return 1
    } >&2
    echo "$list" | awk -v d="$dir" '$1==d {print "  " $2}'
  done
}

# lab is the part that holds the lab lock: up, images, the run, down.
lab() {
  trap '"$BIN/ctl" lab down > "$OUT/logs/lab-down.log" 2>&1 || true' EXIT
  step "lab up ($NODES nodes)"
  "$BIN/ctl" lab up --nodes "$NODES"
  step "e2e images into the lab registry"
  images
  step "ginkgo: focus $FOCUS, skip ${SKIP:-(none)}, $PROCS processes, timeout $TIMEOUT"
  local kubeconfig=$HOME/.minik8s/lab/kubeconfig rc=0
  mkdir -p "$OUT/report" "$OUT/output"
  (cd "$OUT" && KUBE_TEST_REPO_LIST="$OUT/repo-list.yaml" "$OUT/bin/ginkgo" run \
    --procs="$PROCS" --timeout="$TIMEOUT" --focus="$FOCUS" --skip="$SKIP" --no-color \
    "$OUT/bin/e2e.test" -- \
    --kubeconfig="$kubeconfig" --provider=skeleton \
    --report-dir="$OUT/report" --e2e-output-dir="$OUT/output" \
    --kubectl-path="$OUT/bin/kubectl" --disable-log-dump) > "$OUT/logs/e2e.log" 2>&1 || rc=$?
  echo "ginkgo exited $rc; log: $OUT/logs/e2e.log"
  tail -5 "$OUT/logs/e2e.log"
  step "lab down"
  trap - EXIT
  "$BIN/ctl" lab down > "$OUT/logs/lab-down.log" 2>&1
}

if [ -n "${IN_LOCK:-}" ]; then
  lab
  exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ -z "$BUILD_ONLY" ]; then
  echo "run.sh: the lab needs root (network namespaces, containerd, nftables): run $0 as root" >&2
  exit 1
fi
if [ -z "$BUILD_ONLY" ] && [ ! -x "$BIN/ctl" ]; then
  echo "run.sh: no $BIN/ctl: build minik8s first (README \"Two commands\": CGO_ENABLED=0 go build -o bin/ ./cmd/... and cmd/coredns) or pass --bin DIR" >&2
  exit 1
fi

step "building e2e.test, ginkgo, kubectl, agnhost, nnp, busybox (k8s.io/kubernetes $(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes))"
build
[ -n "$BUILD_ONLY" ] && exit 0

rm -rf "$OUT/report" "$OUT/logs" "$OUT/summary.md"
mkdir -p "$OUT/logs"
repoList
export FOCUS SKIP PROCS TIMEOUT NODES OUT BIN
step "waiting for the lab lock $LOCK"
flock "$LOCK" "$self" --in-lock --focus "$FOCUS" --skip "$SKIP" --procs "$PROCS" --timeout "$TIMEOUT" --nodes "$NODES" --out "$OUT" --bin "$BIN"

step "summary"
junit="$OUT/report/junit_01.xml"
if [ ! -f "$junit" ]; then
  echo "run.sh: e2e.test wrote no $junit (see $OUT/logs/e2e.log)" >&2
  exit 1
fi
"$OUT/bin/summary" -junit "$junit" -o "$OUT/summary.md" \
  -title "Conformance run $(date -u +%Y-%m-%d), k8s.io/kubernetes $(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes), $NODES-node lab"
{
  echo
  echo "focus \`$FOCUS\`, skip \`${SKIP}\`, $PROCS processes, timeout $TIMEOUT; report $junit"
} >> "$OUT/summary.md"
cat "$OUT/summary.md"
