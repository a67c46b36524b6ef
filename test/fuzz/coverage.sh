#!/bin/sh
# Writes COVERAGE.md (to stdout) from the coverage builds of `make coverage`.
#   coverage.sh COVERAGE_DIR LOG_DIR 'fuzz_x:src1 src2' ...
# COVERAGE_DIR holds each target's binary and .profdata (the kept corpus
# replayed through it); LOG_DIR holds the logs of `make long` (executions and
# exec/s; a target without a log shows "-"; a NOTES.md there, what to say of
# that run, is copied in). Line and branch figures are
# those of the target's own sources (its _SRC list in the Makefile).
set -e
cov=$1
logs=$2
shift 2
LLVMCOV=${LLVMCOV:-llvm-cov-14}

stat_of() { # stat_of LOG NAME: a libFuzzer final stat, or -
	v=$(sed -n "s/^stat::$2: *//p" "$1" 2>/dev/null | tail -n 1)
	echo "${v:--}"
}

cat <<EOF
# Fuzz coverage

Regenerate with \`make -C test/fuzz long\` (every target for FUZZ_RUNS
executions, default 10 million, one after another), \`make -C test/fuzz merge\`
(the new inputs minimized into corpus/), then \`make -C test/fuzz coverage\`
(this file). Executions and exec/s are libFuzzer's final stats of the long
run (ASan + UBSan, -max_len=\$FUZZ_MAX_LEN, one core); coverage is clang's
source-based coverage (llvm-cov report) of the kept corpus replayed through
replay.c, over the target's own sources. Date: $(date -u +%Y-%m-%d).
$(cat "$logs/NOTES.md" 2>/dev/null || true)

| target | executions | exec/s | corpus (files, bytes) | lines | branches | sources |
|---|---:|---:|---:|---:|---:|---|
EOF
detail=""
for spec in "$@"; do
	t=${spec%%:*}
	srcs=${spec#*:}
	report=$($LLVMCOV report "$cov/$t" -instr-profile="$cov/$t.profdata")
	names=$(for s in $srcs; do printf '%s ' "$(basename "$s")"; done)
	# Rows of the target's sources only (not the harness, replay.c or headers).
	# Columns: file, regions (3), functions (3), lines (3), branches (3).
	rows=$(echo "$report" | awk -v names="$names" 'BEGIN { split(names, w, " "); for (i in w) want[w[i]] = 1 }
		NF == 13 { n = split($1, p, "/"); if (p[n] in want) print p[n], $8, $9, $11, $12 }')
	total=$(echo "$rows" | awk '{ l += $2; lm += $3; b += $4; bm += $5 }
		END { printf "%d of %d (%.1f%%) | %d of %d (%.1f%%)", l - lm, l, l ? 100 * (l - lm) / l : 0, b - bm, b, b ? 100 * (b - bm) / b : 0 }')
	files=$(ls "corpus/$t" | wc -l)
	bytes=$(cat "corpus/$t"/* | wc -c)
	echo "| $t | $(stat_of "$logs/$t.log" number_of_executed_units) | $(stat_of "$logs/$t.log" average_exec_per_sec) | $files, $bytes | $total | ${names% } |"
	detail="$detail$(echo "$rows" | awk -v t="$t" '{ printf "\n| %s | %s | %d of %d (%.1f%%) | %d of %d (%.1f%%) |", t, $1,
		$2 - $3, $2, $2 ? 100 * ($2 - $3) / $2 : 0, $4 - $5, $4, $4 ? 100 * ($4 - $5) / $4 : 0 }')"
done
cat <<EOF

Per source file (a file shared by several targets is counted in each):

| target | file | lines | branches |
|---|---|---:|---:|$detail
EOF
