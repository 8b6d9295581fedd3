#!/usr/bin/env bash
# CTest fixture for the SQS and DynamoDB tests: a real SQS and DynamoDB API
# (moto's server) on loopback.
#   moto.sh start DIR   starts moto's server on a free 127.0.0.1 port, waits
#                       until it answers SQS requests, writes DIR/endpoint
#                       and DIR/pid; fails loudly if it cannot. It runs
#                       through moto_serialized.py, which makes moto's
#                       DynamoDB conditional writes atomic as DynamoDB's are.
#   moto.sh stop DIR    stops that server by its PID
# Extra environment for moto_server (INITIAL_NO_AUTH_ACTION_COUNT=0 turns
# signature checks on) passes through.
set -euo pipefail
action=${1:?start or stop}
dir=${2:?state directory}
mkdir -p "$dir"

case "$action" in
start)
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    echo "moto.sh: moto's server is not installed (pip package moto[server]); the SQS and DynamoDB tests need it" >&2
    exit 1
  fi
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    kill "$(cat "$dir/pid")" || true  # a server left by an interrupted run
  fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  python3 "$(dirname "$0")/moto_serialized.py" 127.0.0.1 "$port" >"$dir/moto.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  endpoint="http://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "moto.sh: moto_server exited at start; its log:" >&2
      cat "$dir/moto.log" >&2
      exit 1
    fi
    # Any SQS answer (even an error) means it is up; signed like a real client.
    if curl -s -o /dev/null -w '%{http_code}' -X POST "$endpoint/" --aws-sigv4 "aws:amz:us-east-1:sqs" \
      --user "fixture:fixture" -H "Content-Type: application/x-amz-json-1.0" \
      -H "X-Amz-Target: AmazonSQS.ListQueues" -d '{}' 2>/dev/null | grep -q '^[245]'; then
      echo "$endpoint" >"$dir/endpoint"
      echo "moto_server up at $endpoint (pid $pid)"
      exit 0
    fi
    sleep 0.2
  done
  echo "moto.sh: moto_server did not answer within 30 s; its log:" >&2
  cat "$dir/moto.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
  ;;
stop)
  if [[ -f "$dir/pid" ]]; then
    kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -f "$dir/pid" "$dir/endpoint"
  fi
  ;;
*)
  echo "moto.sh: unknown action $action" >&2
  exit 2
  ;;
esac
