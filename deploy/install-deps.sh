#!/usr/bin/env bash
# Installs the real parts minik8s runs on, from Debian's packages, and stops
# the services those packages start on install: the lab runs its own
# containerd, registry and etcd on its own sockets and ports.
# Idempotent: a second run installs nothing and changes nothing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: must run as root (apt-get and systemctl need it): run $0 as root" >&2
  exit 1
fi

# gcc and libc6-dev: go test -race needs cgo (run-tests.sh's race step).
pkgs=(containerd runc containernetworking-plugins nftables iptables iproute2
      docker-registry busybox-static etcd-server etcd-client util-linux conntrack curl kmod
      gcc libc6-dev)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps the packages' services from starting during install.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The toolbox image's busybox: Debian's dynamically linked build (package
# busybox; the image carries the libraries it loads). busybox-static, which
# the hosts keep for themselves, has a shell that runs its own applets before
# any program on PATH, so the image's wget (cmd/toolbox) could not replace
# busybox's, which crashes on -T (Debian builds it without
# FEATURE_WGET_TIMEOUT). The package conflicts with busybox-static, so it is
# unpacked beside it, not installed; again only when Debian has a new version.
toolbox_busybox=/usr/local/lib/minik8s/busybox
want=$(apt-cache policy busybox 2>/dev/null | awk '$1 == "Candidate:" {print $2}')
if [ -z "$want" ] || [ "$want" = "(none)" ]; then
  apt-get update -qq
  want=$(apt-cache policy busybox | awk '$1 == "Candidate:" {print $2}')
fi
if [ ! -x "$toolbox_busybox" ] || [ "$(cat "$toolbox_busybox.version" 2>/dev/null)" != "$want" ]; then
  echo "unpacking busybox $want (the toolbox image's) at $toolbox_busybox"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root busybox)
  dpkg-deb -x "$tmp"/busybox_*.deb "$tmp/root"
  install -D -m 0755 "$tmp/root/bin/busybox" "$toolbox_busybox"
  dpkg-deb -f "$tmp"/busybox_*.deb Version > "$toolbox_busybox.version"
  rm -rf "$tmp"
fi

# The lab runs its own instances; stop what the packages may have started.
for svc in containerd docker-registry etcd; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
# Without systemd (containers, CI) nothing was started by the packages, but a
# machine may still run the packaged daemons by hand: stop only those, by
# their packaged command lines, never the lab's own instances.
for pattern in '^/usr/bin/containerd$' \
               '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml$' \
               '^/usr/bin/etcd$'; do
  pkill -f "$pattern" >/dev/null 2>&1 || true
done

echo "dependencies ready: containerd $(containerd --version 2>/dev/null | awk '{print $3}'), runc $(runc --version 2>/dev/null | awk 'NR==1{print $3}'), nft $(nft --version 2>/dev/null | awk '{print $2}')"
