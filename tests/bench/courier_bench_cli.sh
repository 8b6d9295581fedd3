#!/usr/bin/env bash
# courier-bench as a user meets it: its outputs and its errors.
#   courier_bench_cli.sh PATH/TO/courier-bench WORK_DIR
set -euo pipefail
bench=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Bad arguments: a usage message and exit code 2.
for args in "--bogus" "--messages" "--messages -5" "--failure-rate 1.5" "--levels fifo,sometimes" \
            "--transport carrier-pigeon" "--transport sqs" "--drop-rate 0.1" "--endpoint http://x" \
            "--store dynamodb" "--transport sqs --endpoint http://x --store paper"; do
  set +e
  # shellcheck disable=SC2086
  "$bench" $args >"$work/out" 2>"$work/err"
  code=$?
  set -e
  [[ $code -eq 2 ]] || fail "'$args' exited $code, expected 2"
  grep -q "^usage: courier-bench" "$work/err" || fail "'$args' printed no usage"
  grep -q "^courier-bench: " "$work/err" || fail "'$args' did not say what was wrong"
done
echo "bad arguments: usage and exit 2"

# An unreachable endpoint: one clear line and exit 1, not a hang or a crash.
set +e
AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
  timeout 60 "$bench" --transport sqs --endpoint http://127.0.0.1:9 --messages 10 >"$work/out" 2>"$work/err"
code=$?
set -e
[[ $code -eq 1 ]] || fail "unreachable endpoint exited $code, expected 1"
[[ $(wc -l <"$work/err") -eq 1 ]] || fail "unreachable endpoint: expected one line, got: $(cat "$work/err")"
grep -q "127.0.0.1:9" "$work/err" || fail "the error does not name the endpoint: $(cat "$work/err")"
echo "unreachable endpoint: $(cat "$work/err")"

# A run with faults writes a table, JSON and an SVG that parse.
"$bench" --messages 20000 --duplicate-rate 0.02 --failure-rate 0.02 --lost-ack-rate 0.005 --expire-rate 0.005 \
  --seed 5 --json "$work/bench.json" --plot "$work/bench.svg" >"$work/out"
cat "$work/out"
grep -q "every guarantee held" "$work/out" || fail "the faulted run did not hold"
for level in at-most-once at-least-once exactly-once fifo; do
  grep -q "^$level " "$work/out" || fail "no row for $level"
done
python3 - "$work/bench.json" "$work/bench.svg" <<'PY'
import json, sys, xml.etree.ElementTree as ET
doc = json.load(open(sys.argv[1]))
rows = {row["scenario"]: row for row in doc["scenarios"]}
assert set(rows) == {"at-most-once", "at-least-once", "exactly-once", "fifo"}, rows.keys()
assert all(row["guarantee_held"] for row in rows.values())
assert rows["fifo"]["reordered"] == 0 and rows["at-least-once"]["reordered"] is None
assert all(row["messages_per_second"] > 0 and row["p99_us"] >= row["p50_us"] for row in rows.values())
assert doc["faults"]["seed"] == 5 and rows["exactly-once"]["faults_injected"] > 0
svg = ET.parse(sys.argv[2]).getroot()
assert svg.tag.endswith("svg")
assert sum(1 for e in svg.iter() if e.tag.endswith("rect")) >= 4 * 4
print("json and svg: well-formed, every scenario present")
PY
