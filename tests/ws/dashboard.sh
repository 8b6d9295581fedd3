#!/usr/bin/env bash
# Starts and stops the dashboard example for the Node and browser tests (a
# CTest fixture).
#   dashboard.sh start DIR DASHBOARD_BINARY [tls]   runs it on a free port; DIR/port, DIR/pid
#     with tls: over TLS with a throwaway certificate for 127.0.0.1 and
#     localhost, DIR/cert.pem (what the peers trust: NODE_EXTRA_CA_CERTS)
#   dashboard.sh stop DIR
set -euo pipefail
action=$1
dir=$2
case "$action" in
  start)
    binary=$3
    rm -rf "$dir" && mkdir -p "$dir"
    tls_flags=()
    if [[ "${4:-}" == tls ]]; then
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$dir/openssl.log" || {
        echo "dashboard.sh: openssl could not make a certificate (bash scripts/setup.sh installs it):" >&2
        cat "$dir/openssl.log" >&2
        exit 1
      }
      tls_flags=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem")
    fi
    "$binary" --port 0 --state-dir "$dir" "${tls_flags[@]}" >"$dir/log" 2>&1 &
    echo "$!" >"$dir/pid"
    for _ in $(seq 1 100); do
      if [[ -s "$dir/port" ]]; then
        echo "dashboard up on port $(cat "$dir/port") (pid $(cat "$dir/pid"))"
        exit 0
      fi
      if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "dashboard.sh: the dashboard exited at start; its log:" >&2
        cat "$dir/log" >&2
        exit 1
      fi
      sleep 0.1
    done
    echo "dashboard.sh: the dashboard did not start within 10 s; its log:" >&2
    cat "$dir/log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$dir/pid" ]]; then
      pid=$(cat "$dir/pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/pid" "$dir/port"
    fi
    ;;
  *)
    echo "dashboard.sh: unknown action $action" >&2
    exit 2
    ;;
esac
