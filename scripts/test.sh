#!/usr/bin/env bash
# Builds courier and runs every test three times over: Debug, then under
# AddressSanitizer + UndefinedBehaviorSanitizer, then under ThreadSanitizer.
# Fails if any build or test fails. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

for preset in dev asan tsan; do
  echo "=== courier tests: $preset ==="
  cmake --workflow --preset "$preset"
done
echo "=== courier tests: all passed (dev, asan, tsan) ==="
