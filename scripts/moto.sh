#!/usr/bin/env bash
# moto server (AWS emulator) for the AWS adapter's tests.
#
#   scripts/moto.sh start    # creates the venv on first use, starts moto on a free loopback port,
#                            # waits for /moto-api/, writes target/moto/{pid,endpoint}
#   scripts/moto.sh stop     # stops the server started above (by its PID)
#   scripts/moto.sh env      # prints `export COSTKIT_MOTO_ENDPOINT=...` for the running server
#
# The venv lives at ${COSTKIT_MOTO_VENV:-.venv-moto} (repo root) and is reused. The tests in
# adapters/aws/tests/ read COSTKIT_MOTO_ENDPOINT and fail (never skip) when it is unset.
set -euo pipefail

MOTO_SPEC='moto[server]>=5.2,<6'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${COSTKIT_MOTO_VENV:-.venv-moto}"
case "$venv" in /*) ;; *) venv="$repo_root/$venv" ;; esac
state="$repo_root/target/moto"

setup() {
    if [ ! -x "$venv/bin/moto_server" ]; then
        echo "moto: creating $venv ($MOTO_SPEC)" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "$MOTO_SPEC"
    fi
}

free_port() {
    "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

svc_name=moto svc_state="$state" svc_log="$state/moto.log"
# shellcheck source=lib/service.sh
. "$repo_root/scripts/lib/service.sh"

moto_ready() {
    "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$1/moto-api/', timeout=1)" 2>/dev/null
}

start() {
    if svc_running; then
        echo "moto: already running at $(cat "$state/endpoint") (pid $(cat "$state/pid"))" >&2
        return 0
    fi
    setup
    mkdir -p "$state"
    local port; port="$(free_port)"
    # A simple command, so $! is moto's own PID (not a subshell's) and `stop` really stops it.
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$svc_log" 2>&1 &
    local pid=$!
    echo "$pid" >"$state/pid"
    local endpoint="http://127.0.0.1:$port"
    svc_wait "$pid" moto_ready "$endpoint" || return 1
    echo "$endpoint" >"$state/endpoint"
    echo "moto: $("$venv/bin/python" -c 'import moto; print(moto.__version__)') at $endpoint (pid $pid)" >&2
}

case "${1:-}" in
    start) start ;;
    stop) svc_stop "$state/endpoint" ;;
    env) svc_running && echo "export COSTKIT_MOTO_ENDPOINT=$(cat "$state/endpoint")" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
