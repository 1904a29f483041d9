#!/usr/bin/env bash
# Starts/stops a local moto server (DynamoDB + KMS) for the AWS tests.
#
#   scripts/moto.sh start   start moto on a free 127.0.0.1 port, wait until it
#                           answers, write its URL to .moto/url, PID to .moto/pid
#   scripts/moto.sh stop    stop the moto started by `start` (by PID)
#   scripts/moto.sh url     print the URL of the running moto
#
# moto comes pinned from tests/requirements.txt, installed in .venv/ (make venv).
# It is served single-threaded (scripts/moto_server.py): moto's threaded server
# loses concurrent conditional updates.
#
# Typical use (what `make test` does):
#   scripts/moto.sh start
#   export AWS_ENDPOINT_URL=$(cat .moto/url) AWS_REGION=us-east-1 \
#          AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
#   cargo test ...
#   scripts/moto.sh stop
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
STATE="${MOTO_STATE_DIR:-$ROOT/.moto}"
PY="$VENV/bin/python"

running() {
	[[ -f "$STATE/pid" ]] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
	if running; then
		echo "moto already running at $(cat "$STATE/url") (pid $(cat "$STATE/pid"))"
		return 0
	fi
	if [[ ! -x "$PY" ]] || ! "$PY" -c 'import moto.server' 2>/dev/null; then
		echo "moto is not installed in $VENV (run: make venv, or pip install -r tests/requirements.txt)" >&2
		exit 1
	fi
	mkdir -p "$STATE"
	local port url pid i
	for attempt in 1 2 3; do
		port="$(free_port)"
		url="http://127.0.0.1:$port"
		"$PY" "$ROOT/scripts/moto_server.py" 127.0.0.1 "$port" >"$STATE/log" 2>&1 &
		pid=$!
		for i in $(seq 1 150); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			# Any HTTP answer means the server is up.
			if "$PY" - "$url" <<'PYEOF' 2>/dev/null; then
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)
except urllib.error.HTTPError:
    pass
PYEOF
				echo "$pid" >"$STATE/pid"
				echo "$url" >"$STATE/url"
				echo "moto started at $url (pid $pid, log $STATE/log)"
				return 0
			fi
			sleep 0.2
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "moto did not start on port $port (attempt $attempt); log:" >&2
		tail -n 20 "$STATE/log" >&2 || true
	done
	exit 1
}

stop() {
	if [[ -f "$STATE/pid" ]]; then
		local pid
		pid="$(cat "$STATE/pid")"
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			for _ in $(seq 1 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
			echo "moto stopped (pid $pid)"
		fi
		rm -f "$STATE/pid" "$STATE/url"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) running && cat "$STATE/url" ;;
*)
	echo "usage: $0 start|stop|url" >&2
	exit 2
	;;
esac
