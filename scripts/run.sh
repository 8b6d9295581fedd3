#!/usr/bin/env bash
# courier's main job: builds the release preset, runs the delivery benchmark
# (courier-bench) in-process: flat out, at a steady rate for latency, and
# with injected faults; then the parcel service example. Installs what is missing first. Extra arguments go
# to the clean courier-bench run (e.g. --levels fifo --messages 1000000, or
# --transport sqlite); courier-bench --help lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

cmake --preset release >/dev/null
# Only what this job runs: the tests are the other command's business.
cmake --build --preset release --target courier-bench parcel_service

mkdir -p build/release/results
echo "=== courier-bench: every guarantee level, in-process ==="
build/release/bench/courier-bench --json build/release/results/bench.json \
  --plot build/release/results/bench.svg "$@"

echo
echo "=== courier-bench: latency at a steady 100,000 messages/s ==="
build/release/bench/courier-bench --rate 100000 --messages 200000 --quiet

echo
echo "=== courier-bench: the same under injected faults (seed 1) ==="
build/release/bench/courier-bench --messages 100000 --duplicate-rate 0.01 --failure-rate 0.01 \
  --lost-ack-rate 0.002 --expire-rate 0.002 --seed 1

echo
echo "=== the parcel service ==="
build/release/examples/parcel_service --parcels 20
