#!/usr/bin/env bash
# Issue 10, defect 3: what a resume storm does to everyone else's messages.
#
#   bench/resume_storm.sh [SERVER_BINARY] [LABEL]
#   CONNECTIONS=24 MESSAGES=5000 DURATION=20 bench/resume_storm.sh
#
# Starts the server (default target/release/lanchat-server) on a fresh
# SQLite file, stores MESSAGES messages of 8 KB (bench/resume_storm.py
# fill), then runs a small chat (10 clients, 2 senders, 20 messages a
# second: lanchat-bench) twice: once quiet, once while resume_storm.py
# storms (CONNECTIONS clients asking for all history and not reading, over
# and over). It prints lanchat-bench's JSON for both runs; the latency
# figures are of deliveries to the other 9 clients. The server is pinned to
# core 0, the clients to core 1.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${1:-target/release/lanchat-server}
LABEL=${2:-head}
CONNECTIONS=${CONNECTIONS:-24}
MESSAGES=${MESSAGES:-5000}
DURATION=${DURATION:-20}
PORT=${PORT:-7980}

cargo build --release -q -p lanchat-bench
if [ "$SERVER" = target/release/lanchat-server ]; then cargo build --release -q -p lanchat-server; fi
if [ "$(nproc)" -ge 2 ]; then SERVER_PIN=(taskset -c 0); CLIENT_PIN=(taskset -c 1); else SERVER_PIN=(); CLIENT_PIN=(); fi

work=$(mktemp -d)
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
"${SERVER_PIN[@]}" "$SERVER" --bind 127.0.0.1 --port "$PORT" --db "$work/history.db" \
    --rate 1000000 --burst 1000000 --max-connections 20000 --max-connections-per-ip 20000 \
    --no-discovery 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done

"${CLIENT_PIN[@]}" python3 bench/resume_storm.py fill "$PORT" "$MESSAGES" >&2
chat() { # $1 = label
    "${CLIENT_PIN[@]}" target/release/lanchat-bench --server "127.0.0.1:$PORT" --clients 10 --senders 2 \
        --rate 20 --duration "$DURATION" --warmup 2 --server-pid "$server_pid" --json --label "$1"
}
chat "$LABEL quiet"
"${CLIENT_PIN[@]}" python3 bench/resume_storm.py storm "$PORT" "$CONNECTIONS" "$((DURATION + 4))" >&2 &
storm_pid=$!
chat "$LABEL storm"
wait "$storm_pid"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
