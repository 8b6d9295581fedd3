#!/usr/bin/env bash
# courier's main job: builds the release preset, runs the examples (bus and channels), then a
# short run of the bus benchmark with each subject beside its baseline and
# the ratios at the end. Installs what is missing first.
# Extra arguments go to the benchmark (e.g. --benchmark_filter=BM_post).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

cmake --preset release >/dev/null
# Only what this job runs: the tests are the other command's business.
cmake --build --preset release --target bus_basics owner_tracking async_post channel_receipts dead_letters courier_bus_bench

echo "=== examples ==="
for example in bus_basics owner_tracking async_post channel_receipts dead_letters; do
  echo "--- $example"
  "build/release/examples/$example"
done

echo "=== bus benchmark (short run; bench/README.md has the full figures) ==="
build/release/bench/courier_bus_bench \
  --benchmark_min_time=0.1 --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_color=false "$@"
