# Shell functions the benchmark scripts share; sourced, not run.

# Waits until something listens on 127.0.0.1:$1, for up to 10 s.
wait_for_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server on port $1 did not come up" >&2
    return 1
}
