#!/usr/bin/env bash
# Runs workloads W1-W6 against lanchat-server (its JSON lines, and its IRC
# gateway) and ngircd side by side on this machine and prints the servers'
# figures and the ratios.
#
#   bench/compare.sh                 # every workload, 3 runs each (median)
#   RUNS=1 DURATION=3 bench/compare.sh W2 W5
#   SERVERS=lanchat bench/compare.sh W3   # one server only
#   SERVERS="gateway irc" bench/compare.sh W2  # the IRC gateway and ngircd
#   TLS=1 bench/compare.sh W1 W2t W5      # both servers over TLS
#   CONNECT_TIMEOUT=900 bench/compare.sh W1  # joins may take 15 minutes
#
# lanchat-server runs with its defaults except: the per-client rate limit
# (--rate/--burst, raised for the senders), the connection caps
# (--max-connections/--max-connections-per-ip: every client comes from
# 127.0.0.1) and LAN discovery (off). History is on, in a SQLite file.
# The servers, as SERVERS names them:
#   lanchat  lanchat-server, the generator speaking JSON lines to port 7979
#            (the IRC port off: 6667 is ngircd's);
#   gateway  the same lanchat-server with its IRC port on 6767, the
#            generator speaking IRC to it; its lines in runs.jsonl say
#            "protocol":"gateway";
#   irc      ngircd, the generator speaking IRC to port 6667.
# ngircd runs with bench/ngircd.conf. With TLS=1 the generator speaks TLS
# to both: lanchat on its one port, ngircd on an SSL port (6697) with a
# self-signed ECDSA P-256 certificate made here by openssl, as lanchat's.
# With two or more cores the server is pinned to core 0 and the load
# generator to core 1.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
TLS=${TLS:-}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
# Seconds the generator waits for every client to join before it gives up.
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-300}
read -r -a SERVERS <<<"${SERVERS:-lanchat gateway irc}"
WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -eq 0 ] && WORKLOADS=(W1 W2 W2t W3 W4 W5 W6)

# ngircd is the daemon compared against; ss (iproute2) counts the TCP
# segments each server sends.
missing=()
command -v ngircd >/dev/null 2>&1 || missing+=(ngircd)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} from Debian..." >&2
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release -q -p lanchat-server -p lanchat-bench
bin=${CARGO_TARGET_DIR:-target}/release
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "$(nproc)" -ge 2 ]; then SERVER_PIN=(taskset -c 0); BENCH_PIN=(taskset -c 1); else SERVER_PIN=(); BENCH_PIN=(); fi

work=$(mktemp -d)
results=bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$results"
# Not `kill "${server_pid:-0}"`: after stop_server that is `kill 0`, which
# signals this whole process group, a script that runs this one included.
trap 'if [ -n "${server_pid:-}" ]; then kill "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

irc_conf=bench/ngircd.conf
irc_port=6667
gateway_port=6767
tls_flag=()
if [ -n "$TLS" ]; then
    tls_flag=(--tls)
    irc_port=6697
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj /CN=bench -keyout "$work/irc-key.pem" -out "$work/irc-cert.pem" 2>/dev/null
    irc_conf="$work/ngircd-tls.conf"
    cp bench/ngircd.conf "$irc_conf"
    printf '[SSL]\n\tPorts = 6697\n\tCertFile = %s\n\tKeyFile = %s\n' \
        "$work/irc-cert.pem" "$work/irc-key.pem" >>"$irc_conf"
fi

# shellcheck source=bench/common.sh
. bench/common.sh

start_server() { # $1 = lanchat|gateway|irc
    if [ "$1" = lanchat ] || [ "$1" = gateway ]; then
        rm -f "$work"/history.db*
        # The same server both times; only the IRC port differs.
        local irc=(--no-irc)
        [ "$1" = gateway ] && irc=(--irc-port "$gateway_port")
        "${SERVER_PIN[@]}" "$bin/lanchat-server" --bind 127.0.0.1 --port 7979 \
            --db "$work/history.db" --rate 1000000 --burst 1000000 \
            --max-connections 20000 --max-connections-per-ip 20000 --no-discovery "${irc[@]}" 2>"$work/server.log" &
        server_pid=$!
        wait_for_port 7979
        [ "$1" = lanchat ] || wait_for_port "$gateway_port"
    else
        "${SERVER_PIN[@]}" ngircd --nodaemon --config "$irc_conf" >"$work/server.log" 2>&1 &
        server_pid=$!
        wait_for_port "$irc_port"
    fi
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

workload_args() { # the shape of each workload
    case "$1" in
        W1) echo "--idle --clients 10000" ;;
        W2) echo "--clients 100 --senders 100 --rate 15000" ;;
        # W2 at a third of the rate: over TLS the generator, on one core,
        # cannot decrypt W2's 1.5 M deliveries a second (see BENCHMARKS.md).
        W2t) echo "--clients 100 --senders 100 --rate 5000" ;;
        W3) echo "--clients 1000 --senders 100 --rate 1000" ;;
        W4) echo "--clients 10000 --senders 50 --rate 50" ;;
        W5) echo "--clients 100 --senders 10 --rate 100" ;;
        W6) echo "--clients 1000 --senders 100 --rate 1000 --non-readers 10" ;;
    esac
}

# The servers take turns within each round (lanchat, gateway, ngircd, ...),
# so that a machine that is busier at some moments than others weighs on
# both alike.
for workload in "${WORKLOADS[@]}"; do
    failed=" "
    for run in $(seq 1 "$RUNS"); do
        for protocol in "${SERVERS[@]}"; do
            # A failure (a server that cannot take the load) repeats; the
            # remaining runs of this pair would only cost time.
            case "$failed" in *" $protocol "*) continue ;; esac
            # What the generator speaks, and where.
            case "$protocol" in
                lanchat) port=7979 speaks=lanchat ;;
                gateway) port=$gateway_port speaks=irc ;;
                *) port=$irc_port speaks=irc ;;
            esac
            echo "== $workload $protocol run $run" >&2
            start_server "$protocol"
            # shellcheck disable=SC2046
            if RUST_BACKTRACE=0 "${BENCH_PIN[@]}" "$bin/lanchat-bench" --server "127.0.0.1:$port" --protocol "$speaks" \
                --duration "$DURATION" --warmup "$WARMUP" --connect-timeout "$CONNECT_TIMEOUT" --server-pid "$server_pid" \
                --label "$workload" --json "${tls_flag[@]}" $(workload_args "$workload") >"$work/run.json" 2>"$work/bench.err"; then
                # The generator names the protocol it spoke; the gateway's
                # runs are told apart from ngircd's by the server's name.
                if [ "$protocol" = gateway ]; then
                    sed 's/"protocol": *"irc"/"protocol":"gateway"/' "$work/run.json" >>"$results/runs.jsonl"
                else
                    cat "$work/run.json" >>"$results/runs.jsonl"
                fi
            else
                echo "   failed: $(grep -m1 -E '^Error|error' "$work/bench.err" || tail -n 1 "$work/bench.err")" >&2
                echo "{\"workload\":\"$workload\",\"protocol\":\"$protocol\",\"failed\":true}" >>"$results/runs.jsonl"
                failed="$failed$protocol "
            fi
            stop_server
        done
    done
done

python3 bench/summarize.py "$results/runs.jsonl" "$results/plot.svg" | tee "$results/summary.txt"
echo "Results: $results" >&2
