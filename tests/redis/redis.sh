#!/usr/bin/env bash
# CTest fixture for the tests of WebSocket nodes sharing one Redis: Debian's
# redis-server on a free loopback port.
#   redis.sh start DIR   starts redis-server on 127.0.0.1 (no RDB snapshots,
#                        AOF with appendfsync always, files in DIR), waits
#                        until it answers PING, writes DIR/port and DIR/pid;
#                        fails loudly if it cannot
#   redis.sh start DIR PORT
#                        starts it again on PORT, keeping DIR's AOF: what a
#                        test that stops Redis mid-run does
#   redis.sh stop DIR    stops that server by its PID
set -euo pipefail
action=${1:?start or stop}
dir=${2:?state directory}
mkdir -p "$dir"

case "$action" in
start)
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "redis.sh: redis-server and redis-cli are not installed (Debian: redis-server); scripts/setup.sh installs them" >&2
    exit 1
  fi
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    kill "$(cat "$dir/pid")" || true  # a server left by an interrupted run
  fi
  port=${3:-}
  if [[ -z $port ]]; then
    rm -rf "$dir/appendonlydir"  # a fresh server: no data of an earlier run
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  fi
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" \
    --appendonly yes --appendfsync always --daemonize no >"$dir/redis.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "redis.sh: redis-server exited at start; its log:" >&2
      cat "$dir/redis.log" >&2
      exit 1
    fi
    if [[ $(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null) == PONG ]]; then
      echo "$port" >"$dir/port"
      echo "redis-server up at 127.0.0.1:$port (pid $pid)"
      exit 0
    fi
    sleep 0.1
  done
  echo "redis.sh: redis-server did not answer PING within 10 s; its log:" >&2
  cat "$dir/redis.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
  ;;
stop)
  if [[ -f "$dir/pid" ]]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do  # gone, not only told to go: a test may start it again at once
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    rm -f "$dir/pid" "$dir/port"
  fi
  ;;
*)
  echo "redis.sh: unknown action $action" >&2
  exit 2
  ;;
esac
