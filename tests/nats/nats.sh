#!/usr/bin/env bash
# Fixture for what runs beside Debian's nats-server (the peer benchmark):
# nats-server with JetStream on a free loopback port.
#   nats.sh start DIR   starts nats-server -js on 127.0.0.1 (JetStream's
#                       files in DIR/jetstream), waits until it says it is
#                       ready, writes DIR/port and DIR/pid; fails loudly if
#                       it cannot
#   nats.sh stop DIR    stops that server by its PID
set -euo pipefail
action=${1:?start or stop}
dir=${2:?state directory}
mkdir -p "$dir"

case "$action" in
start)
  if ! command -v nats-server >/dev/null; then
    echo "nats.sh: nats-server is not installed (Debian: nats-server); scripts/setup.sh installs it" >&2
    exit 1
  fi
  if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    kill "$(cat "$dir/pid")" || true  # a server left by an interrupted run
  fi
  rm -rf "$dir/jetstream"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/jetstream" >"$dir/nats.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "nats.sh: nats-server exited at start; its log:" >&2
      cat "$dir/nats.log" >&2
      exit 1
    fi
    if grep -q 'Server is ready' "$dir/nats.log"; then
      echo "$port" >"$dir/port"
      echo "nats-server up at 127.0.0.1:$port (pid $pid)"
      exit 0
    fi
    sleep 0.1
  done
  echo "nats.sh: nats-server was not ready within 10 s; its log:" >&2
  cat "$dir/nats.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
  ;;
stop)
  if [[ -f "$dir/pid" ]]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    rm -f "$dir/pid" "$dir/port"
  fi
  ;;
*)
  echo "nats.sh: unknown action $action" >&2
  exit 2
  ;;
esac
