#!/usr/bin/env bash
# CPU profile of the two hot paths (KV v2 read, KV v2 write) under callgrind.
#
#   bench/profile.sh            # build, profile, print the summary
#
# 1. Builds a release binary WITH debug symbols (same opt-level / LTO as the
#    shipped release profile, only `debug` on and `strip` off) into
#    target/profile/ so it never disturbs target/release/.
# 2. Starts `strongroom server -dev` on a free 127.0.0.1 port under
#    `valgrind --tool=callgrind` (valgrind execs into the tool: the PID we
#    get is the server's own PID).
# 3. Drives a fixed workload with a small keep-alive Python client
#    (http.client, one connection per phase):
#      warm-up  write secret/data/bench (100-byte value), 50 reads, 20 writes
#      reads    PROFILE_READS  (2000) GETs of secret/data/bench
#      sealstatus PROFILE_SEAL_STATUS (= PROFILE_READS) GETs of sys/seal-status:
#               the HTTP floor a read is compared with (issue 17)
#      writes   PROFILE_WRITES (500)  PUTs to new keys secret/data/w/<i>
#      idle     PROFILE_IDLE_SECONDS (3) s with no requests: background cost
#    The counters are zeroed before each phase and dumped after it
#    (callgrind_control -z / -d), so each phase gets its own profile and the
#    server's start-up never pollutes the numbers.
# 4. Stops the server by PID (SIGTERM) and writes, per phase, the total Ir,
#    Ir per request, and the top self / inclusive functions
#    (callgrind_annotate) into $PROFILE_OUT (target/profile/callgrind/).
#
# Callgrind counts instructions (Ir), not time: they are deterministic to
# within a fraction of a percent run to run, so before/after comparisons of
# a code change are meaningful on a noisy shared 2-core machine.
#
# Knobs: PROFILE_READS (2000) PROFILE_WRITES (500) PROFILE_IDLE_SECONDS (3)
#        PROFILE_SEAL_STATUS (PROFILE_READS)
#        PROFILE_OUT (target/profile/callgrind) PROFILE_TOP (25)
#        PROFILE_SKIP_BUILD (0) PROFILE_TARGET_DIR (target/profile)
#        PROFILE_CARGO_PROFILE (release; fastbench for quick loops)
#        PROFILE_AUDIT (0): 1 enables a file audit device (log in $PROFILE_OUT)
#        before the warm-up, to measure what auditing adds per request
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

READS="${PROFILE_READS:-2000}"
WRITES="${PROFILE_WRITES:-500}"
SEALS="${PROFILE_SEAL_STATUS:-$READS}"
IDLE="${PROFILE_IDLE_SECONDS:-3}"
TOP="${PROFILE_TOP:-25}"
TARGET_DIR="${PROFILE_TARGET_DIR:-target/profile}"
OUT="${PROFILE_OUT:-$TARGET_DIR/callgrind}"
CARGO="${CARGO:-cargo}"
# PROFILE_CARGO_PROFILE=fastbench: no LTO, incremental (minutes faster per
# rebuild while iterating; absolute Ir differ a little from `release`).
CARGO_PROFILE_NAME="${PROFILE_CARGO_PROFILE:-release}"
CARGO_PROFILE_UPPER="$(printf '%s' "$CARGO_PROFILE_NAME" | tr '[:lower:]-' '[:upper:]_')"
if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi

log() { printf '==> %s\n' "$*" >&2; }

for tool in valgrind callgrind_control callgrind_annotate; do
	command -v "$tool" >/dev/null || { log "$tool is not installed (apt-get install valgrind)"; exit 1; }
done

# 1. Release build with debug symbols -----------------------------------------
if [[ "${PROFILE_SKIP_BUILD:-0}" != 1 ]]; then
	build_ok=0
	for attempt in 1 2 3 4 5 6; do
		log "release build with debug symbols into $TARGET_DIR (attempt $attempt)"
		if env "CARGO_PROFILE_${CARGO_PROFILE_UPPER}_DEBUG=true" "CARGO_PROFILE_${CARGO_PROFILE_UPPER}_STRIP=false" \
			"$CARGO" build --profile "$CARGO_PROFILE_NAME" --bin strongroom --target-dir "$TARGET_DIR" >&2; then
			build_ok=1
			break
		fi
		log "build failed (someone may be mid-edit); retrying in 30 s"
		sleep 30
	done
	[[ $build_ok == 1 ]] || { log "build kept failing; giving up"; exit 1; }
fi
BIN="$ROOT/$TARGET_DIR/$CARGO_PROFILE_NAME/strongroom"
[[ -x "$BIN" ]] || { log "no binary at $BIN"; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# The client: one keep-alive connection per phase ------------------------------
cat >"$OUT/client.py" <<'PY'
import http.client, json, sys, time

host, port, phase, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
HDR = {"X-Vault-Token": "root", "Content-Type": "application/json"}
VALUE = "v" * 100  # the 100-byte secret


def conn():
    return http.client.HTTPConnection(host, port, timeout=600)


def req(c, method, path, body=None, want=(200, 204)):
    c.request(method, path, body=body, headers=HDR)
    r = c.getresponse()
    data = r.read()
    if r.status not in want:
        sys.exit(f"{method} {path}: HTTP {r.status}: {data[:300]!r}")
    return data


def write_body(i):
    return json.dumps({"data": {"value": VALUE}}).encode()


if phase == "wait":
    deadline = time.time() + n
    while True:
        try:
            c = conn()
            c.request("GET", "/v1/sys/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            sys.exit("server did not become healthy")
        time.sleep(0.5)
elif phase == "warmup":
    c = conn()
    req(c, "PUT", "/v1/secret/data/bench", write_body(0))
    out = json.loads(req(c, "GET", "/v1/secret/data/bench"))
    assert out["data"]["data"]["value"] == VALUE, out
    for _ in range(n):
        req(c, "GET", "/v1/secret/data/bench")
    for i in range(n // 2):
        req(c, "PUT", f"/v1/secret/data/warm/{i}", write_body(i))
elif phase == "audit":
    c = conn()
    path = sys.argv[5]
    req(c, "PUT", "/v1/sys/audit/file",
        json.dumps({"type": "file", "options": {"file_path": path}}).encode())
elif phase == "reads":
    c = conn()
    for _ in range(n):
        req(c, "GET", "/v1/secret/data/bench")
elif phase == "sealstatus":
    c = conn()
    for _ in range(n):
        req(c, "GET", "/v1/sys/seal-status")
elif phase == "writes":
    c = conn()
    for i in range(n):
        req(c, "PUT", f"/v1/secret/data/w/{i}", write_body(i))
else:
    sys.exit(f"unknown phase {phase}")
PY

# 2. Server under callgrind ---------------------------------------------------
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
log "starting strongroom -dev on 127.0.0.1:$PORT under callgrind"
env -u STRONGROOM_LOG valgrind --tool=callgrind \
	--callgrind-out-file="$OUT/callgrind.out" \
	--dump-instr=no --collect-jumps=no \
	"$BIN" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$PORT" \
	>"$OUT/server.log" 2>&1 &
SERVER_PID=$!
stop_server() {
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 1 120); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT

"$PY" "$OUT/client.py" 127.0.0.1 "$PORT" wait 180
if [[ "${PROFILE_AUDIT:-0}" == 1 ]]; then
	log "enabling a file audit device ($OUT/audit.log)"
	"$PY" "$OUT/client.py" 127.0.0.1 "$PORT" audit 0 "$OUT/audit.log"
fi
log "server up (PID $SERVER_PID); warm-up"
"$PY" "$OUT/client.py" 127.0.0.1 "$PORT" warmup 50

# Zero, run, dump: one profile per phase. callgrind_control talks to the
# process through vgdb; the dump is written before -d returns.
phase() { # name requests
	local name=$1 n=$2
	callgrind_control -z "$SERVER_PID" >/dev/null
	local t0=$SECONDS
	if [[ $name == idle ]]; then
		sleep "$IDLE"
	else
		"$PY" "$OUT/client.py" 127.0.0.1 "$PORT" "$name" "$n"
	fi
	callgrind_control -d "$name" "$SERVER_PID" >/dev/null
	log "phase $name: $n requests in $((SECONDS - t0)) s (under valgrind)"
}
phase reads "$READS"
phase sealstatus "$SEALS"
phase writes "$WRITES"
phase idle 0

# 3. Stop by PID (SIGTERM: clean shutdown, final dump) ------------------------
stop_server
trap - EXIT

# 4. Report --------------------------------------------------------------------
dump_for() { # phase name -> dump file
	grep -lx "desc: Trigger: dump $1" "$OUT"/callgrind.out.* 2>/dev/null | head -n1
}
total_ir() { # dump file -> total Ir
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

SUMMARY="$OUT/summary.txt"
{
	echo "strongroom callgrind profile  $(date -u +%Y-%m-%dT%H:%M:%SZ)  git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo '+dirty')"
	echo "binary: $BIN"
	echo
	printf '%-8s %10s %16s %14s\n' phase requests "total Ir" "Ir/request"
	for p in reads:"$READS" sealstatus:"$SEALS" writes:"$WRITES"; do
		name=${p%%:*}
		n=${p##*:}
		f="$(dump_for "$name")"
		ir="$(total_ir "$f")"
		printf '%-8s %10d %16d %14d\n' "$name" "$n" "$ir" "$((ir / n))"
	done
	f="$(dump_for idle)"
	ir="$(total_ir "$f")"
	printf '%-8s %10s %16d %14s\n' idle "${IDLE}s" "$ir" "$((ir / IDLE))/s"
} >"$SUMMARY"

for name in reads sealstatus writes; do
	f="$(dump_for "$name")"
	# Full listings (no pipe into head: with pipefail, SIGPIPE would abort).
	callgrind_annotate --threshold=100 "$f" >"$OUT/$name.self.txt" 2>/dev/null
	callgrind_annotate --threshold=100 --inclusive=yes "$f" >"$OUT/$name.inclusive.txt" 2>/dev/null
	cp "$f" "$OUT/$name.callgrind"
done

top() { # the first $TOP function lines of a callgrind_annotate listing, paths shortened
	# In the self listing, the frames that were on the stack of the thread that
	# served the dump request show up at (100.0%): an artifact of dumping
	# mid-run; they have no self cost, so they are dropped.
	awk -v n="$TOP" '/file:function/ { on = 1; getline; next }
		on && NF && !/\(100\.0%\)/ { print; if (++k >= n) exit }' "$1" |
		sed -E 's#/root/\.cargo/registry/src/[^/]*/##; s#/rustc/[0-9a-f]+/library/##; s# \[[^]]*\]$##' | cut -c1-200
}
cat "$SUMMARY"
for name in reads sealstatus writes; do
	echo
	echo "---- $name: top $TOP by self cost ($OUT/$name.self.txt)"
	top "$OUT/$name.self.txt"
	echo
	echo "---- $name: top $TOP inclusive ($OUT/$name.inclusive.txt)"
	top "$OUT/$name.inclusive.txt"
done
echo
log "profiles: $OUT/{reads,sealstatus,writes}.callgrind (open with kcachegrind or callgrind_annotate)"
