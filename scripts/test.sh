#!/usr/bin/env bash
# Builds courier and runs every test three times over: Debug, then under
# AddressSanitizer + UndefinedBehaviorSanitizer, then under ThreadSanitizer;
# then libFuzzer on the WebSocket frame decoder for 45 s (clang).
# Fails if any build or test fails. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

for preset in dev asan tsan fuzz; do
  echo "=== courier tests: $preset ==="
  cmake --workflow --preset "$preset"
done
echo "=== courier tests: all passed (dev, asan, tsan, fuzz) ==="
