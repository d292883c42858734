# Shared by the emulator scripts (scripts/moto.sh, scripts/azurite.sh): a server started as a
# simple background command (`cmd & pid=$!`, so the PID is the server's own, not a subshell's),
# waited for, and stopped by that PID. Source it after setting:
#   svc_name   label in messages      svc_state  directory holding `pid`      svc_log  the server's log

# True while the recorded server runs.
svc_running() {
    [ -f "$svc_state/pid" ] && kill -0 "$(cat "$svc_state/pid")" 2>/dev/null
}

# svc_wait PID CHECK...: runs CHECK every 0.1 s until it succeeds (up to 30 s). Fails, showing the
# log and stopping the server, if the server exits first or never gets ready.
svc_wait() {
    local pid="$1"; shift
    for _ in $(seq 1 300); do
        if "$@"; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$svc_name: the server exited; log:" >&2
            cat "$svc_log" >&2
            rm -f "$svc_state/pid"
            return 1
        fi
        sleep 0.1
    done
    echo "$svc_name: not ready after 30 s; log:" >&2
    cat "$svc_log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$svc_state/pid"
    return 1
}

# svc_stop [FILE...]: stops the recorded server by its PID and removes `pid` and FILEs.
svc_stop() {
    if [ -f "$svc_state/pid" ]; then
        local pid; pid="$(cat "$svc_state/pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$svc_state/pid" "$@"
        echo "$svc_name: stopped (pid $pid)" >&2
    fi
}
