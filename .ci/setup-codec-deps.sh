#!/usr/bin/env bash
# Install the codec programs that the compression tests run (run as root).
# Idempotent: installs only what is missing, and touches nothing when all is there.
# These are what enb's codec plugins wrap (enb plugin list): each plugin names its package
# when its program is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-codec-deps: must run as root (it installs packages)" >&2
  exit 1
fi

# program -> the Debian package that provides it
declare -A package_of=(
  [zstd]=zstd [lz4]=lz4 [xz]=xz-utils [bzip2]=bzip2 [brotli]=brotli
  [cjxl]=libjxl-tools [djxl]=libjxl-tools [cwebp]=webp [dwebp]=webp
  [opj_compress]=libopenjp2-tools [opj_decompress]=libopenjp2-tools
  [fpack]=libcfitsio-bin [funpack]=libcfitsio-bin [pdftoppm]=poppler-utils
)
missing=()
for program in "${!package_of[@]}"; do
  command -v "$program" >/dev/null || missing+=("${package_of[$program]}")
done

if [ ${#missing[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "setup-codec-deps: installing $packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086  # one word per package
  apt-get install -y -q --no-install-recommends $packages
fi
echo "setup-codec-deps: ready"
