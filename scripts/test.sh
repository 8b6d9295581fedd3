#!/usr/bin/env bash
# Builds courier and runs every test: Debug, then under AddressSanitizer +
# UndefinedBehaviorSanitizer, then the library's tests under ThreadSanitizer
# (where the concurrency is; the examples and their browser and Node peers
# are not built again for it); then libFuzzer on the WebSocket frame decoder
# for 45 s (clang).
# Fails if any build or test fails. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

for preset in dev asan tsan fuzz; do
  echo "=== courier tests: $preset ==="
  started=$SECONDS
  cmake --workflow --preset "$preset"
  echo "=== courier tests: $preset passed in $((SECONDS - started)) s (build and tests) ==="
done
echo "=== courier tests: all passed (dev, asan, tsan, fuzz) ==="
