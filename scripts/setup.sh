#!/usr/bin/env bash
# Installs what courier needs to build and test, and nothing when all of it is
# already here. Safe to run again and again: the README's two commands call it
# first, so a fresh Debian 12 machine needs nothing typed beforehand.
set -euo pipefail

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libfmt-dev libconcurrentqueue-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for package in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "courier setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
