#!/usr/bin/env bash
# Installs what courier needs to build and test, and nothing when all of it is
# already here. Safe to run again and again: the README's two commands call it
# first, so a fresh Debian 12 machine needs nothing typed beforehand.
set -euo pipefail

apt_packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libfmt-dev libconcurrentqueue-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev
  libhiredis-dev # courier::ws nodes sharing one Redis
  redis-server   # the Redis the WebSocket cluster tests start on loopback
  haproxy        # the load balancer in front of the cluster test's nodes
  nats-server libnats-dev # JetStream beside courier in the peer benchmark
  openssl        # the TLS tests make a throwaway certificate with it
  libgtest-dev libgmock-dev libbenchmark-dev
  clang          # the libFuzzer target of the WebSocket frame decoder
  chromium       # the browser the dashboard test drives
  prometheus     # promtool: the metrics tests check courier's exposition with it
)
# Node (for the WebSocket peers) from Debian unless one is already on PATH.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_packages+=(nodejs npm)
fi

missing=()
for package in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "courier setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The WebSocket tests' peers from npm (ws, playwright-core), pinned by
# tests/ws/package-lock.json.
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -d "$here/tests/ws/node_modules/ws" || ! -d "$here/tests/ws/node_modules/playwright-core" ]]; then
  echo "courier setup: npm ci in tests/ws" >&2
  npm ci --prefix "$here/tests/ws" --no-audit --no-fund >/dev/null
fi
