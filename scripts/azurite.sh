#!/usr/bin/env bash
# Azurite (Azure Storage emulator: Blob, Queue, Table) for the Azure adapter's tests.
#
#   scripts/azurite.sh start   # installs azurite@3 into a cache dir on first use, starts it on free
#                              # loopback ports (in memory), waits for the three services, writes
#                              # target/azurite/{pid,env}
#   scripts/azurite.sh stop    # stops the server started above (by its PID)
#   scripts/azurite.sh env     # prints `export COSTKIT_AZURITE_*=...` for the running server
#
# The npm prefix is ${COSTKIT_AZURITE_HOME:-$HOME/.cache/costkit/azurite} (outside the repo, reused).
# The tests in adapters/azure/tests/ and functions/azure-handler/tests/ read COSTKIT_AZURITE_BLOB
# (and _QUEUE, _TABLE) and fail (never skip) when they are unset.
set -euo pipefail

AZURITE_SPEC='azurite@3'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${COSTKIT_AZURITE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/costkit/azurite}"
state="$repo_root/target/azurite"
bin="$home/node_modules/.bin/azurite"

setup() {
    if [ ! -x "$bin" ]; then
        echo "azurite: installing $AZURITE_SPEC into $home" >&2
        mkdir -p "$home"
        [ -f "$home/package.json" ] || (cd "$home" && npm init -y >/dev/null)
        npm install --prefix "$home" --no-audit --no-fund --silent "$AZURITE_SPEC" >&2
    fi
}

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

port_open() {
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

all_open() {
    local p
    for p in "$@"; do port_open "$p" || return 1; done
}

svc_name=azurite svc_state="$state" svc_log="$state/azurite.log"
# shellcheck source=lib/service.sh
. "$repo_root/scripts/lib/service.sh"

start() {
    if svc_running; then
        echo "azurite: already running (pid $(cat "$state/pid"))" >&2
        return 0
    fi
    setup
    mkdir -p "$state"
    local blob queue table
    blob="$(free_port)"; queue="$(free_port)"; table="$(free_port)"
    # A simple command, so $! is azurite's own PID (not a subshell's) and `stop` really stops it.
    "$bin" --blobHost 127.0.0.1 --blobPort "$blob" --queueHost 127.0.0.1 --queuePort "$queue" \
        --tableHost 127.0.0.1 --tablePort "$table" --inMemoryPersistence --skipApiVersionCheck \
        --disableProductStyleUrl --silent >"$svc_log" 2>&1 &
    local pid=$!
    echo "$pid" >"$state/pid"
    svc_wait "$pid" all_open "$blob" "$queue" "$table" || return 1
    {
        echo "export COSTKIT_AZURITE_BLOB=http://127.0.0.1:$blob/devstoreaccount1"
        echo "export COSTKIT_AZURITE_QUEUE=http://127.0.0.1:$queue/devstoreaccount1"
        echo "export COSTKIT_AZURITE_TABLE=http://127.0.0.1:$table/devstoreaccount1"
    } >"$state/env"
    echo "azurite: $("$bin" --version 2>/dev/null || echo '?') blob $blob, queue $queue, table $table (pid $pid)" >&2
}

case "${1:-}" in
    start) start ;;
    stop) svc_stop "$state/env" ;;
    env) svc_running && cat "$state/env" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
