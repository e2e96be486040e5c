#!/usr/bin/env bash
# Runs the bindings' benchmarks (the C API beside pure Go and a channel;
# Python beside queue.SimpleQueue and deque+Condition) on a quiet machine
# and summarises them with benchstat, for docs/bindings.md.
#
# Settings, from the environment:
#   COUNT    repetitions of every benchmark (default 6, for benchstat's 95% intervals)
#   QUIET    the most CPU, in percent of the machine, that other processes
#            may use in the 5 s before each repetition (default 10)
#   PKGS     the packages (default: ./bindings/c ./bindings/python)
#   WAIT     how long a repetition waits for quiet before running anyway
#            (seconds, default 1800)
#
# Each repetition waits until the machine has been quiet for 5 s; every
# benchmark also reports other-cpu-%, what other processes used while it
# ran. Raw output and the summary go to bench-results/bindings/; then the
# "Measured figures" section of docs/bindings.md is rewritten from the raw
# output there (internal command bindings/internal/benchfig), so that
# `PKGS=./bindings/python bindings/bench.sh` keeps the C figures of the
# last C run in bench-results/bindings/c.txt. DOC=0 leaves the doc alone.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-6}
quiet=${QUIET:-10}
pkgs=${PKGS:-./bindings/c ./bindings/python}
out=bench-results/bindings
mkdir -p "$out"
export GOMAXPROCS=${GOMAXPROCS:-2}

# busy prints the percent of all CPUs busy over the next 5 s.
busy() {
	local a b
	a=($(head -1 /proc/stat))
	sleep 5
	b=($(head -1 /proc/stat))
	local total=0 idle=0 i
	for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
	idle=$((b[4] - a[4] + b[5] - a[5]))
	echo $((100 * (total - idle) / total))
}

wait_quiet() {
	local deadline=$((SECONDS + ${WAIT:-1800})) b
	while :; do
		b=$(busy)
		if [ "$b" -le "$quiet" ]; then
			echo "== machine ${b}% busy: running" >&2
			return
		fi
		if [ $SECONDS -ge $deadline ]; then
			echo "== machine still ${b}% busy after ${WAIT:-1800} s: running anyway (see other-cpu-%)" >&2
			return
		fi
		echo "== machine ${b}% busy (want <= ${quiet}%): waiting" >&2
	done
}

for pkg in $pkgs; do
	name=$(basename "$pkg")
	bin="$out/$name.test"
	go test -c -o "$bin" "$pkg"
	raw="$out/$name.txt"
	: > "$raw"
	for i in $(seq "$count"); do
		wait_quiet
		# the test binary runs in its package directory, as go test does
		(cd "$pkg" && "$OLDPWD/$bin" -test.run='^$' -test.bench=. -test.benchtime="${BENCHTIME:-1000000x}" -test.count=1) | tee -a "$raw" >&2
	done
	go tool benchstat "$raw" > "$out/$name.benchstat.txt"
	cat "$out/$name.benchstat.txt"
done

if [ "${DOC:-1}" != 0 ]; then
	# The Python the Python benchmarks ran: the first with pytest, as the
	# test harness (bindings/internal/bindingtest) picks it.
	pyver=
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null && "$py" -c 'import pytest' 2>/dev/null; then
			pyver=$("$py" --version 2>&1)
			break
		fi
	done
	args=()
	[ -s "$out/c.txt" ] && args+=(-c "$out/c.txt")
	[ -s "$out/python.txt" ] && args+=(-python "$out/python.txt")
	go run ./bindings/internal/benchfig "${args[@]}" -python-version "$pyver" -doc docs/bindings.md
	echo "== docs/bindings.md: Measured figures rewritten from $out" >&2
fi
