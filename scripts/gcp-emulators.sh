#!/usr/bin/env bash
# Google Cloud emulators for the GCP adapter's tests, all on 127.0.0.1 (free ports, in memory):
#   Firestore : Google's emulator from the machine's google-cloud-cli (REST + gRPC on one port)
#   Pub/Sub   : Google's emulator from the machine's google-cloud-cli (REST + gRPC on one port)
#   GCS       : PyPI cloudbox 0.2.3 (JSON API; its other services get free ports too, unused)
#   BigQuery  : PyPI bqemulator 1.4.0 (DuckDB; REST)
# Without the google-cloud-cli emulators (or Java), Pub/Sub comes from cloudbox (gRPC; REST on a
# second port) and Firestore from npm @firestore-emulator/server (gRPC only: the REST Firestore
# store cannot run on it, so its tests fail there instead of skipping).
#
# Adapted from the team's shared tools (tools/gcp-emulators.sh, tested reference; see
# docs/emulators.md §9 there): the same pinned packages and the cloudbox patch, reshaped to follow
# scripts/moto.sh and scripts/azurite.sh.
#
#   scripts/gcp-emulators.sh start   # installs the PyPI packages into a cache dir on first use,
#                                    # starts every emulator, waits for them, writes
#                                    # target/gcp-emu/{run/*.pid,env}
#   scripts/gcp-emulators.sh stop    # stops the servers started above (by their PIDs)
#   scripts/gcp-emulators.sh env     # prints the exports for the running servers:
#       FIRESTORE_EMULATOR_HOST=127.0.0.1:PORT      (Google's convention: host:port)
#       PUBSUB_EMULATOR_HOST=127.0.0.1:PORT         (REST on the official emulator)
#       STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT (GCS JSON API base)
#       BIGQUERY_EMULATOR_HOST=http://127.0.0.1:PORT (BigQuery REST base)
#
# The cache is ${COSTKIT_GCP_EMU_HOME:-$HOME/.cache/costkit/gcp-emu} (outside the repo, reused;
# a lock serializes first-time installs). The tests in adapters/gcp/tests/ read the variables
# above and fail (never skip) when they are unset.
set -euo pipefail

BQEMULATOR_SPECS=('bqemulator==1.4.0' 'duckdb==1.5.5' 'duckdb-extensions==1.5.5' 'duckdb-extension-spatial==1.5.5' 'numpy<3')
CLOUDBOX_SPEC='cloudbox==0.2.3'
FS_NPM_SPEC='@firestore-emulator/server@0.3.15'
EMU_PROJECT='billing-proj'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${COSTKIT_GCP_EMU_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/costkit/gcp-emu}"
state="$repo_root/target/gcp-emu"
sdk="${GCLOUD_SDK_ROOT:-/usr/lib/google-cloud-sdk}"
venv="$home/venv"

ps_bin="$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
fs_jar="$sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
official=1
{ [ -x "$ps_bin" ] && [ -f "$fs_jar" ] && command -v java >/dev/null && [ -z "${GCP_EMU_FORCE_FALLBACK:-}" ]; } || official=0

install_packages() {
    mkdir -p "$home/home"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    if [ ! -x "$venv/bin/bqemulator" ]; then
        echo "gcp-emulators: installing ${BQEMULATOR_SPECS[*]} into $venv" >&2
        # bqemulator pulls a duckdb whose spatial extension it then downloads at start: pin duckdb
        # to the version whose extension PyPI has as a wheel (numpy: bqemulator needs it).
        "$venv/bin/pip" install -q --disable-pip-version-check "${BQEMULATOR_SPECS[@]}" >&2
        HOME="$home/home" "$venv/bin/python" -c 'from duckdb_extensions import import_extension; import_extension("spatial")'
    fi
    if [ ! -x "$venv/bin/cloudbox" ]; then
        echo "gcp-emulators: installing $CLOUDBOX_SPEC into $venv" >&2
        # cloudbox declares Requires-Python >=3.14 but only relies on lazy annotations: PEP 563
        # makes it import on 3.11.
        "$venv/bin/pip" install -q --disable-pip-version-check --ignore-requires-python "$CLOUDBOX_SPEC" >&2
        "$venv/bin/python" - <<'PY'
import ast, pathlib, importlib.util
root = pathlib.Path(importlib.util.find_spec("cloudbox").submodule_search_locations[0])
for p in root.rglob("*.py"):
    s = p.read_text()
    if "from __future__ import annotations" in s:
        continue
    t = ast.parse(s)
    line = 0
    if t.body and isinstance(t.body[0], ast.Expr) and isinstance(getattr(t.body[0], "value", None), ast.Constant) and isinstance(t.body[0].value.value, str):
        line = t.body[0].end_lineno
    ls = s.splitlines(keepends=True)
    ls.insert(line, "from __future__ import annotations\n")
    p.write_text("".join(ls))
PY
    fi
    if [ "$official" = 0 ] && [ ! -d "$home/fs/node_modules/@firestore-emulator/server" ]; then
        echo "gcp-emulators: installing $FS_NPM_SPEC into $home/fs" >&2
        mkdir -p "$home/fs"
        npm install --prefix "$home/fs" --no-audit --no-fund --silent "$FS_NPM_SPEC" >&2
    fi
    if [ "$official" = 0 ]; then
        cat >"$home/fs/start.js" <<'JS'
const grpc = require('@grpc/grpc-js');
const bind = grpc.Server.prototype.bindAsync; // the package binds 0.0.0.0; keep it on loopback
grpc.Server.prototype.bindAsync = function (a, ...r) { return bind.call(this, a.replace('0.0.0.0', '127.0.0.1'), ...r); };
const { FirestoreServer } = require('@firestore-emulator/server');
new FirestoreServer().start(Number(process.argv[2] || 8080)).then(() => console.log('firestore emulator up'));
JS
    fi
}

setup() {
    mkdir -p "$home"
    # Another checkout may be installing into the same cache: one installer at a time.
    exec 9>"$home/.install.lock"
    flock 9
    install_packages
    flock -u 9
    exec 9>&-
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() {
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running() {
    local f
    for f in "$state"/run/*.pid; do
        [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
    done
    return 1
}

stop() {
    local f pid name
    for f in "$state"/run/*.pid; do
        [ -f "$f" ] || continue
        pid="$(cat "$f")"; name="$(basename "$f" .pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        # Java emulators may ignore TERM while starting: make sure nothing is left on a port.
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$f"
        echo "gcp-emulators: $name stopped (pid $pid)" >&2
    done
    rm -f "$state/env"
}

# launch NAME CMD...: starts CMD in the background; `exec` keeps the PID the server's own (the
# Pub/Sub launcher script execs java in turn), so `stop` really stops it.
launch() {
    local name="$1"; shift
    (exec "$@") >"$state/logs/$name.log" 2>&1 &
    echo $! >"$state/run/$name.pid"
}

# wait_port NAME PORT: up to 60 s (a cold JVM is slow on a busy 2-core machine).
wait_port() {
    local name="$1" port="$2" pid
    pid="$(cat "$state/run/$name.pid")"
    for _ in $(seq 1 600); do
        port_open "$port" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "gcp-emulators: $name exited; log:" >&2
            tail -40 "$state/logs/$name.log" >&2
            stop
            return 1
        fi
        sleep 0.1
    done
    echo "gcp-emulators: $name not ready on port $port after 60 s; log:" >&2
    tail -40 "$state/logs/$name.log" >&2
    stop
    return 1
}

start() {
    if running; then
        echo "gcp-emulators: already running (target/gcp-emu/run)" >&2
        return 0
    fi
    setup
    mkdir -p "$state/run" "$state/logs"
    local bq bq_grpc gcs ps fs p
    bq="$(free_port)"; bq_grpc="$(free_port)"; gcs="$(free_port)"; ps="$(free_port)"; fs="$(free_port)"
    # cloudbox serves a dozen services; every one gets a free port so two checkouts never clash.
    local cb_env=(CLOUDBOX_HOST=127.0.0.1 CLOUDBOX_PROJECT="$EMU_PROJECT" HOME="$home/home" CLOUDBOX_GCS_PORT="$gcs")
    local v
    for v in PUBSUB_REST FIRESTORE BIGQUERY SECRETMANAGER TASKS SPANNER LOGGING SCHEDULER ADMIN; do
        cb_env+=("CLOUDBOX_${v}_PORT=$(free_port)")
    done
    local ps_env="127.0.0.1:$ps"
    launch bqemulator env HOME="$home/home" "$venv/bin/bqemulator" start --rest-host 127.0.0.1 \
        --rest-port "$bq" --grpc-host 127.0.0.1 --grpc-port "$bq_grpc" --project "$EMU_PROJECT" \
        --log-format console
    if [ "$official" = 1 ]; then
        launch cloudbox env "${cb_env[@]}" CLOUDBOX_PUBSUB_PORT="$(free_port)" "$venv/bin/cloudbox"
        launch pubsub "$ps_bin" --host=127.0.0.1 --port="$ps"
        launch firestore java -Duser.language=en -cp "$fs_jar" \
            com.google.cloud.datastore.emulator.firestore.CloudFirestore \
            start --host=127.0.0.1 --port="$fs" --database-mode=firestore-native
    else
        launch cloudbox env "${cb_env[@]}" CLOUDBOX_PUBSUB_PORT="$ps" "$venv/bin/cloudbox"
        launch firestore node "$home/fs/start.js" "$fs"
    fi
    wait_port bqemulator "$bq"
    wait_port cloudbox "$gcs"
    if [ "$official" = 1 ]; then wait_port pubsub "$ps"; else wait_port cloudbox "$ps"; fi
    wait_port firestore "$fs"
    {
        echo "export FIRESTORE_EMULATOR_HOST=127.0.0.1:$fs"
        echo "export PUBSUB_EMULATOR_HOST=$ps_env"
        echo "export STORAGE_EMULATOR_HOST=http://127.0.0.1:$gcs"
        echo "export BIGQUERY_EMULATOR_HOST=http://127.0.0.1:$bq"
    } >"$state/env"
    p="$([ "$official" = 1 ] && echo "google-cloud-cli Pub/Sub and Firestore" || echo "fallback Pub/Sub and Firestore")"
    echo "gcp-emulators: up ($p): firestore $fs, pubsub $ps, gcs $gcs, bigquery $bq" >&2
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) running && cat "$state/env" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
