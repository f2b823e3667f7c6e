#!/usr/bin/env bash
# bench/run.sh — the benchmark suite of BENCHMARKS.md, in one command:
#
#   bench/run.sh                      # full run (~10 min): table printed, results in bench/results/
#   bench/run.sh -d 2s -huge 0        # a quicker run (no phase 4); any bench/cmd/benchrun flag works
#   bench/run.sh -profile bench/results/profiles  # serve the stores with profserve, save CPU profiles
#
# It builds cloudhsm-local and the harness into bench/bin, then bench/cmd/benchrun starts the
# ceiling, cloudhsm-local (memory, SQLite file, PostgreSQL when supported; the last two also with
# --durability fsync, for delete-restore) and moto's server on loopback, grows every store to
# -huge backups (1,000,000; memory through the admin API's bulk take-backup, 1,000 per request),
# drives every workload against each, and writes bench/results/latest.json and
# latest.md. Every server it starts is stopped when it ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=bench/bin
pids=$bin/.pids
mkdir -p "$bin" bench/results
: > "$pids"
runner=

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if [[ -n "$runner" ]] && kill -0 "$runner" 2>/dev/null; then
		kill -TERM "$runner" 2>/dev/null || true
		wait "$runner" 2>/dev/null || true
	fi
	# Each server runs in its own process group, led by the PID benchrun recorded.
	while read -r pid; do
		[[ -n "$pid" ]] && kill -TERM -- "-$pid" 2>/dev/null || true
	done < "$pids"
	sleep 0.2
	while read -r pid; do
		[[ -n "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
	done < "$pids"
	rm -f "$pids"
	exit "$status"
}
trap cleanup EXIT INT TERM

echo "building into $bin ..." >&2
export CGO_ENABLED=0 # as make build; one build cache for everything
go build -o "$bin/cloudhsm-local" ./cmd/cloudhsm-local
go build -o "$bin/" ./bench/cmd/ceiling ./bench/cmd/loadgen ./bench/cmd/profserve ./bench/cmd/benchrun

"$bin/benchrun" -bin "$bin" -pidfile "$pids" "$@" &
runner=$!
wait "$runner"
