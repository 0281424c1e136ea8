#!/usr/bin/env bash
# Install what tests/cluster needs to simulate a cluster on this machine (run as root).
# Idempotent: installs only what is missing, and touches nothing when all is there.
# The node venv (/opt/enb-test-venv) is built by the tests themselves, at the head's ray version.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-cluster-deps: must run as root (it installs packages)" >&2
  exit 1
fi

# command -> the Debian package that provides it
declare -A package_of=(
  [sshd]=openssh-server [ssh]=openssh-client [sshfs]=sshfs [dpipe]=vde2
  [ip]=iproute2 [iptables]=iptables [pkill]=procps [fuser]=psmisc
  [fusermount3]=fuse3 [unshare]=util-linux [nsenter]=util-linux [useradd]=passwd
)
missing=()
for command in "${!package_of[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null || missing+=("${package_of[$command]}")
done
[ -x /usr/lib/openssh/sftp-server ] || missing+=(openssh-sftp-server)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "setup-cluster-deps: installing $packages"
  # Keep dpkg from starting a system-wide sshd: the tests run their own, one per node.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  trap '[ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086  # one word per package
  apt-get install -y -q --no-install-recommends $packages
fi

# sshd's privilege separation directory; systemd makes it only when it starts sshd.
install -d -m 0755 /run/sshd

if [ ! -c /dev/fuse ]; then
  echo "setup-cluster-deps: /dev/fuse is missing: the kernel's fuse module is needed for sshfs" >&2
  exit 1
fi
echo "setup-cluster-deps: ready"
