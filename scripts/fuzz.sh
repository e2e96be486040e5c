#!/usr/bin/env bash
# Runs the fuzz campaign of the API's decoders and the client's stream
# reader (docs/fuzzing.md): every target for FUZZTIME (default 5m) with
# PARALLEL workers (default 1, to share the machine), one after the
# other, and prints a Markdown row per target: executions, the corpus
# it grew, crashes (0, or the failing input that go test wrote into the
# package's testdata/fuzz, which becomes part of the seed corpus), and
# the share of the machine's CPU all processes used meanwhile (from
# /proc/stat).
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5m}
parallel=${PARALLEL:-1}
targets=(
	"./api FuzzDecodeJSON"
	"./api FuzzDecodeMsgpack"
	"./api FuzzDecodeYAML"
	"./api FuzzDecodeBody"
	"./api FuzzJSONConversions"
	"./client FuzzStream"
	"./wire FuzzMsgpackValue"
)
busy() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; t=b+$5+$6; print b, t}' /proc/stat; }
echo "| target | time | executions | corpus grew by | crashes | machine busy |"
echo "|---|---:|---:|---:|---:|---:|"
status=0
for t in "${targets[@]}"; do
	set -- $t
	read -r b0 t0 < <(busy)
	out=$(go test "$1" -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" -parallel "$parallel" 2>&1)
	rc=$?
	read -r b1 t1 < <(busy)
	last=$(grep '^fuzz: elapsed' <<<"$out" | tail -1)
	execs=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' <<<"$last")
	grew=$(sed -n 's/.*new interesting: \([0-9]*\).*/\1/p' <<<"$last")
	crashes=0
	if [ $rc -ne 0 ]; then
		crashes="1: $(grep -o 'testdata/fuzz/[^ ]*' <<<"$out" | head -1)"
		status=1
		echo "$out" >&2
	fi
	echo "| $1 $2 | $fuzztime | ${execs:-?} | ${grew:-?} | $crashes | $(( 100 * (b1 - b0) / (t1 - t0) ))% |"
done
exit $status
