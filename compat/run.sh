#!/usr/bin/env bash
# Compatibility suite: boto3 and the AWS CLI against a fresh cloudhsm-local.
#
#   bash compat/run.sh                       # builds the binary into a temp dir
#   CLOUDHSM_LOCAL_BIN=bin/cloudhsm-local bash compat/run.sh
#
# Starts `cloudhsm-local serve --store memory` on a free loopback port, waits for
# GET /_cloudhsm-local/health, runs compat/test_boto3.py then compat/test_cli.py; then starts a
# second server in strict mode (--auth sigv4, the credentials file of compat/test_strict.py, a
# random admin token) and runs compat/test_strict.py against it. Stops the servers, and ends with
# one line "N passed, M failed" (CI reads it). Exits non-zero on any failure.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

started=$(date +%s)
work="$(mktemp -d "${TMPDIR:-/tmp}/cloudhsm-compat.XXXXXX")"
server_pid=""
strict_pid=""

stop_server() { # pid
	local pid="$1"
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
}

cleanup() {
	stop_server "$server_pid"
	stop_server "$strict_pid"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fatal MESSAGE: explain, print the summary line CI reads, and fail.
fatal() {
	echo "compat: FATAL: $*" >&2
	if [ -n "${server_log:-}" ] && [ -s "$server_log" ]; then
		echo "--- server log (last 40 lines) ---" >&2
		tail -n 40 "$server_log" >&2
	fi
	echo "0 passed, 1 failed"
	exit 1
}

# Nothing from the caller's AWS setup may leak into the suites.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL \
	AWS_ENDPOINT_URL_CLOUDHSM_V2 AWS_DEFAULT_REGION AWS_REGION AWS_CA_BUNDLE
# Nor any server setting that would change what the suites expect (strict mode is set up below).
unset CLOUDHSM_LOCAL_AUTH CLOUDHSM_LOCAL_CREDENTIALS CLOUDHSM_LOCAL_ADMIN_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# --- prerequisites -------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || fatal "python3 is not on PATH (expected pyenv's shim)."
if ! python3 -c "import boto3, botocore" 2>"$work/boto3.err"; then
	fatal "python3 ($(command -v python3)) cannot import boto3: $(tail -n 1 "$work/boto3.err").
The compatibility suite needs boto3 and botocore for that python3; it is not skipped. Install them for that interpreter."
fi
command -v aws >/dev/null 2>&1 || fatal "the AWS CLI ('aws') is not on PATH."
for tool in curl openssl; do
	command -v "$tool" >/dev/null 2>&1 || fatal "$tool is not on PATH."
done

# --- the binary ----------------------------------------------------------------------------
if [ -n "${CLOUDHSM_LOCAL_BIN:-}" ]; then
	bin="$CLOUDHSM_LOCAL_BIN"
	case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
	[ -x "$bin" ] || fatal "CLOUDHSM_LOCAL_BIN=$CLOUDHSM_LOCAL_BIN is not an executable file."
	echo "compat: using $bin"
else
	command -v go >/dev/null 2>&1 || fatal "go is not on PATH and CLOUDHSM_LOCAL_BIN is not set."
	bin="$work/cloudhsm-local"
	echo "compat: building ./cmd/cloudhsm-local"
	go build -o "$bin" ./cmd/cloudhsm-local || fatal "go build ./cmd/cloudhsm-local failed."
fi

# --- the server ----------------------------------------------------------------------------
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

healthy() { # url [admin token]
	python3 - "$1" "${2:-}" <<-'EOF' 2>/dev/null
		import json, sys, urllib.request
		req = urllib.request.Request(sys.argv[1] + "/_cloudhsm-local/health")
		if sys.argv[2]:
		    req.add_header("Authorization", "Bearer " + sys.argv[2])
		with urllib.request.urlopen(req, timeout=1) as r:
		    sys.exit(0 if r.status == 200 and json.load(r).get("status") == "ok" else 1)
	EOF
}

# start_server LOG [serve flags...]: starts `cloudhsm-local serve --store memory` on a free port
# (three tries) and waits for its health (with $CLOUDHSM_LOCAL_ADMIN_TOKEN, if set); sets
# started_pid and started_url. The caller records the pid for cleanup.
start_server() {
	local log="$1" attempt port url deadline
	shift
	started_pid="" started_url=""
	server_log="$log" # what fatal shows
	for attempt in 1 2 3; do
		port="$(free_port)" || fatal "cannot find a free loopback port."
		url="http://127.0.0.1:$port"
		"$bin" serve --addr "127.0.0.1:$port" --store memory "$@" >>"$log" 2>&1 &
		started_pid=$!
		deadline=$((SECONDS + 10))
		while [ $SECONDS -lt $deadline ]; do
			if ! kill -0 "$started_pid" 2>/dev/null; then break; fi
			if healthy "$url" "${CLOUDHSM_LOCAL_ADMIN_TOKEN:-}"; then started_url="$url"; return 0; fi
			sleep 0.1
		done
		if kill -0 "$started_pid" 2>/dev/null; then
			kill "$started_pid" 2>/dev/null
			fatal "the server did not answer GET $url/_cloudhsm-local/health within 10 s."
		fi
		wait "$started_pid" 2>/dev/null
		started_pid=""
		echo "compat: the server exited on port $port (attempt $attempt); retrying" >&2
	done
	fatal "the server would not start."
}

start_server "$work/server.log"
server_pid="$started_pid" endpoint="$started_url" server_log="$work/server.log"
echo "compat: cloudhsm-local serving at $endpoint (pid $server_pid)"
export CLOUDHSM_LOCAL_ENDPOINT="$endpoint" CLOUDHSM_LOCAL_BIN="$bin"

# --- the suites ----------------------------------------------------------------------------
total_passed=0
total_failed=0
status=0

run_suite() { # name, command...
	local name="$1"; shift
	local out="$work/$name.out"
	echo
	echo "=== $name ==="
	if command -v timeout >/dev/null 2>&1; then
		timeout 300 "$@" 2>&1 | tee "$out"
	else
		"$@" 2>&1 | tee "$out"
	fi
	local rc=${PIPESTATUS[0]}
	local line
	line="$(grep -E "^$name suite: [0-9]+ passed, [0-9]+ failed$" "$out" | tail -n 1)"
	if [ -z "$line" ]; then
		echo "compat: $name suite ended (exit $rc) without its summary line; counting 1 failure" >&2
		total_failed=$((total_failed + 1))
		status=1
		return
	fi
	local p f
	p="$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$line")"
	f="$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$line")"
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
		status=1
		if [ "$f" -eq 0 ]; then # failed without a failing test: still a failure
			total_failed=$((total_failed + 1))
		fi
	fi
}

run_suite boto3 python3 "$here/test_boto3.py" --endpoint "$endpoint"
run_suite cli python3 "$here/test_cli.py" --endpoint "$endpoint" --bin "$bin"

# --- strict mode: a second server with --auth sigv4 ----------------------------------------
strict_log="$work/strict-server.log"
strict_credentials="$work/credentials.json"
python3 "$here/test_strict.py" --write-credentials "$strict_credentials" ||
	fatal "compat/test_strict.py could not write the credentials file."
CLOUDHSM_LOCAL_ADMIN_TOKEN="$(python3 -c 'import secrets; print(secrets.token_hex(16))')" ||
	fatal "cannot make an admin token."
export CLOUDHSM_LOCAL_ADMIN_TOKEN # read by the strict server, the suite and the subcommands
start_server "$strict_log" --auth sigv4 --credentials "$strict_credentials" --log-level debug
strict_pid="$started_pid" strict_endpoint="$started_url" server_log="$work/server.log"
echo
echo "compat: cloudhsm-local (strict mode) serving at $strict_endpoint (pid $strict_pid)"
run_suite strict python3 "$here/test_strict.py" --endpoint "$strict_endpoint" --bin "$bin"

# No secret of the credentials file, nor the admin token, may reach the strict server's debug log.
if ! python3 - "$strict_credentials" "$strict_log" <<-'EOF'; then
	import json, os, sys
	creds, log = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
	secrets = [os.environ["CLOUDHSM_LOCAL_ADMIN_TOKEN"]]
	secrets += [c[k] for c in creds for k in ("secret_access_key", "session_token") if k in c]
	leaked = [s[:6] + "..." for s in secrets if s in log]
	print("compat: strict server log: %d lines, %s" % (log.count("\n"), "LEAKS " + ", ".join(leaked) if leaked else "no secret in it"))
	sys.exit(1 if leaked else 0)
	EOF
	total_failed=$((total_failed + 1))
	status=1
fi

echo
for pid_log in "$server_pid:$server_log" "$strict_pid:$strict_log"; do
	if ! kill -0 "${pid_log%%:*}" 2>/dev/null; then
		echo "compat: the server with log ${pid_log#*:} died during the run" >&2
		total_failed=$((total_failed + 1))
		status=1
	fi
done
if [ "$status" -ne 0 ]; then
	echo "--- server log (last 40 lines) ---"
	tail -n 40 "$server_log"
	echo "--- strict server log (last 40 lines) ---"
	tail -n 40 "$strict_log"
fi
echo "compat: took $(($(date +%s) - started)) s"
echo "$total_passed passed, $total_failed failed"
exit "$status"
