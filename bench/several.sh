#!/usr/bin/env bash
# Issue 15's benchmark: the same load (W3's shape: 1,000 clients, 100
# senders, 1,000 msg/s) carried by
#   sqlite   one lanchat-server with its SQLite file (the default);
#   redis1   one lanchat-server on Redis (--redis);
#   redis2   two lanchat-servers on one Redis, 500 clients each;
# and, at W5's light load (100 clients, 100 msg/s), sqlite-light and
# redis1-light, for the latency Redis adds when no core is busy;
# with each process's CPU from /proc over the measured seconds, so the
# cost per delivery and the cost of reading the shared log can be told
# apart. Then Redis alone: appends a second under appendfsync always, one
# client and two (one per server), as redis-benchmark measures them.
#
#   bench/several.sh                 # 3 runs of each setup
#   RUNS=1 DURATION=5 bench/several.sh
#
# Redis runs as lanchat's tests run it (Unix socket, appendonly yes,
# appendfsync always), started afresh for every run. With two or more
# cores, the servers and Redis are pinned to core 0 and the load
# generator to core 1.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SETUPS=${SETUPS:-"sqlite redis1 redis2 sqlite-light redis1-light"}
command -v redis-server >/dev/null 2>&1 || {
    echo "Installing redis-server from Debian..." >&2
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
}
cargo build --release -q -p lanchat-server -p lanchat-bench
bin=${CARGO_TARGET_DIR:-target}/release
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(nproc)" -ge 2 ]; then PIN=(taskset -c 0); BENCH_PIN=(taskset -c 1); else PIN=(); BENCH_PIN=(); fi

work=$(mktemp -d)
results=bench/results/several-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$results"
pids=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"' EXIT

# shellcheck source=bench/common.sh
. bench/common.sh

start_redis() {
    rm -rf "$work/redis" && mkdir -p "$work/redis"
    "${PIN[@]}" redis-server --port 0 --unixsocket "$work/redis/redis.sock" --dir "$work/redis" \
        --appendonly yes --appendfsync always --save '' --logfile "$work/redis/log" >/dev/null &
    redis_pid=$!
    pids+=("$redis_pid")
    for _ in $(seq 1 200); do
        redis-cli -s "$work/redis/redis.sock" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "redis-server did not come up" >&2
    return 1
}

# Starts a server on port $1 with the store flags that follow; sets
# server_pid. Not in a subshell, so the caller's list of pids holds it.
start_server() {
    local port=$1
    shift
    "${PIN[@]}" "$bin/lanchat-server" --bind 127.0.0.1 --port "$port" --no-irc --no-discovery \
        --rate 1000000 --burst 1000000 --max-connections 20000 --max-connections-per-ip 20000 \
        "$@" >/dev/null 2>>"$work/server-$port.log" &
    server_pid=$!
    pids+=("$server_pid")
    wait_for_port "$port"
}

stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}

# W3's shape for the capacity setups; W5's (100 clients, 10 senders,
# 100 msg/s) for the *-light ones, where latency is the store's and not a
# busy core's; W2's (100 clients, all sending, 15,000 msg/s) for the *-w2
# ones, the most appends a second the benchmarks offer.
bench() { # $1 = label, then the generator's flags
    local label=$1
    shift
    local shape=(--clients 1000 --senders 100 --rate 1000)
    case "$label" in
        *-light) shape=(--clients 100 --senders 10 --rate 100) ;;
        *-w2) shape=(--clients 100 --senders 100 --rate 15000) ;;
    esac
    # A run that fails (a client cut off as a slow consumer) is recorded
    # as failed, and the others go on.
    RUST_BACKTRACE=0 "${BENCH_PIN[@]}" "$bin/lanchat-bench" --protocol lanchat \
        "${shape[@]}" --duration "$DURATION" --warmup "$WARMUP" \
        --label "$label" --json "$@" 2>"$work/bench.err" ||
        { echo "   failed: $(tail -n 1 "$work/bench.err")" >&2; echo "{\"workload\":\"$label\",\"failed\":true}"; }
}

for run in $(seq 1 "$RUNS"); do
    for setup in $SETUPS; do
        echo "== $setup run $run" >&2
        case "$setup" in
            sqlite | sqlite-light | sqlite-w2)
                rm -f "$work"/history.db*
                start_server 7979 --db "$work/history.db"
                a=$server_pid
                bench "$setup" --server 127.0.0.1:7979 --server-pid "$a" >>"$results/runs.jsonl"
                ;;
            redis1 | redis1-light | redis1-w2)
                start_redis
                start_server 7979 --redis "unix://$work/redis/redis.sock"
                a=$server_pid
                bench "$setup" --server 127.0.0.1:7979 --server-pid "$a" \
                    --watch-pid "$redis_pid" >>"$results/runs.jsonl"
                ;;
            redis2)
                start_redis
                start_server 7979 --redis "unix://$work/redis/redis.sock"
                a=$server_pid
                start_server 7980 --redis "unix://$work/redis/redis.sock"
                b=$server_pid
                bench redis2 --server 127.0.0.1:7979 --also-server 127.0.0.1:7980 --server-pid "$a" \
                    --watch-pid "$b" --watch-pid "$redis_pid" >>"$results/runs.jsonl"
                ;;
        esac
        stop_all
    done
done

# Redis alone: how many appends (XADD) a second it takes and fsyncs, from
# one connection (one server's store thread) and from two.
start_redis
for clients in 1 2; do
    echo "== redis-benchmark XADD, $clients client(s)" >&2
    "${BENCH_PIN[@]}" redis-benchmark -s "$work/redis/redis.sock" -c "$clients" -n 20000 -q \
        XADD lanchat:bench '*' m 0123456789012345678901234567890123456789 |
        tr '\r' '\n' | grep -E 'XADD' | tail -n 1 | sed "s/^/clients=$clients /" | tee -a "$results/redis.txt"
done
stop_all

python3 - "$results/runs.jsonl" <<'EOF' | tee "$results/summary.txt"
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
failed = [r["workload"] for r in runs if r.get("failed")]
runs = [r for r in runs if not r.get("failed")]
if failed:
    print("failed runs:", ", ".join(failed))
print(f"{'setup':12} {'deliv/s':>9} {'missing':>8} {'p50 ms':>7} {'p99 ms':>7} {'server A %':>10} {'others %':>16}")
for setup in ["sqlite", "redis1", "redis2", "sqlite-light", "redis1-light", "sqlite-w2", "redis1-w2"]:
    mine = [r for r in runs if r["workload"] == setup]
    if not mine:
        continue
    med = lambda key: statistics.median(r[key] for r in mine)
    others = [statistics.median(r["watched_cpu_pct"][i] for r in mine) for i in range(len(mine[0]["watched_cpu_pct"]))]
    print(f"{setup:12} {med('deliveries_per_sec'):9.0f} {med('missing'):8.0f} {med('p50_us')/1000:7.2f} "
          f"{med('p99_us')/1000:7.2f} {med('server_cpu_pct'):10.1f} {' / '.join(f'{o:.1f}' for o in others):>16}")
EOF
echo "Results: $results" >&2
