#!/usr/bin/env bash
# bench/run.sh — the benchmark suite of BENCHMARKS.md, in one command:
#
#   bench/run.sh                      # full run (~15 min): tables and charts in bench/results/
#   bench/run.sh -d 2s -huge 100000   # a quicker run; any bench/cmd/benchrun flag works
#   bench/run.sh -baseline main       # compare with another build than 535392a (-baseline "": none)
#   bench/run.sh -profile bench/results/profiles  # serve the stores with profserve, save CPU profiles
#
# It installs wrk if missing, builds cloudhsm-local, the baseline build and the harness into
# bench/bin, then bench/cmd/benchrun starts the ceiling, cloudhsm-local (memory, SQLite file,
# PostgreSQL when supported; the last two also with --durability fsync, and a second replica of
# each), the baseline on PostgreSQL and moto's server on loopback, grows every store to -huge
# backups (1,000,000; memory through the admin API's bulk take-backup, 1,000 per request),
# drives every workload against each with loadgen and wrk, and writes bench/results/latest.json,
# latest.md and the SVG charts. Every server it starts is stopped when it ends, however it ends.
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

# wrk is the second client of every fixed-body workload (benchrun -wrk=false goes without).
if ! command -v wrk >/dev/null; then
	echo "installing wrk ..." >&2
	if ! { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; }; } \
		|| ! command -v wrk >/dev/null; then
		echo "bench/run.sh: wrk is not installed and apt-get install -y wrk failed; install wrk, or pass -wrk=false to measure without it" >&2
		exit 1
	fi
fi

# The baseline (benchrun -baseline REF, default 535392a: main before issue 16) is built from
# git into $bin/baseline, once per commit.
baseline=535392a
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	-baseline | --baseline) baseline="${args[i + 1]:-}" ;;
	-baseline=* | --baseline=*) baseline="${args[i]#*=}" ;;
	esac
done

echo "building into $bin ..." >&2
export CGO_ENABLED=0 # as make build; one build cache for everything
go build -o "$bin/cloudhsm-local" ./cmd/cloudhsm-local
go build -o "$bin/" ./bench/cmd/ceiling ./bench/cmd/loadgen ./bench/cmd/profserve ./bench/cmd/benchrun
if [[ -n "$baseline" ]]; then
	commit=$(git rev-parse --verify "$baseline^{commit}")
	if [[ ! -x "$bin/baseline/cloudhsm-local" || "$(cat "$bin/baseline/COMMIT" 2>/dev/null)" != "$commit" ]]; then
		echo "building the baseline $baseline ($commit) into $bin/baseline ..." >&2
		src=$(mktemp -d)
		git archive "$commit" | tar -x -C "$src"
		mkdir -p "$bin/baseline"
		(cd "$src" && go build -o "$OLDPWD/$bin/baseline/cloudhsm-local" ./cmd/cloudhsm-local)
		rm -rf "$src"
		echo "$commit" > "$bin/baseline/COMMIT"
	fi
fi

"$bin/benchrun" -bin "$bin" -pidfile "$pids" "$@" &
runner=$!
wait "$runner"
