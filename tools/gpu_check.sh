#!/usr/bin/env bash
# The prepared run for a lent GPU machine: what the full profile still has to show on a GPU,
# phase by phase, each under its own time limit, with logs and results collected in one folder.
#
#   tools/gpu_check.sh [--dry-run] [PHASE ...]        # default: install test-full bench
#
# Phases, run in the order given:
#   install    .venv on top of the machine's torch, offline, from the carried wheels/py312
#              (tools/gpu_wheels.sh install); skipped when .venv is already built
#   test-full  make test-full alone on the machine, stopped after TEST_FULL_S seconds
#              (default 420) as Ctrl-C would, so its per-notebook table is printed either way
#   bench      python -m bench training (fit against a hand-written loop, eager and
#              reduce-overhead) and python -m bench stacked (BENCH_S each, default 200)
#   records    the full-profile records not shipped yet: lab 10's comparisons and lab 09's
#              grid (RECORDS_S each, default 240), written into the package's runs/full
#              folders; the new files are copied to OUT/records
#
# OUT (default build/gpu_check) receives machine.txt (GPU, cores, versions), one log per phase,
# summary.txt (exit status and seconds of each phase), test-full-report.xml and records/.
# A lent machine gives about 15 minutes, its start included, and at most 10 minutes per call:
# e.g. one call `tools/gpu_check.sh install test-full`, a second `tools/gpu_check.sh bench records`.
set -euo pipefail

cd "$(dirname "$0")/.."  # paths are relative to the repository root
out=${OUT:-build/gpu_check}
test_full_s=${TEST_FULL_S:-420}
bench_s=${BENCH_S:-200}
records_s=${RECORDS_S:-240}
py=.venv/bin/python
dry_run=0
phases=()

for arg; do
    case "$arg" in
        install | test-full | bench | records) phases+=("$arg") ;;
        --dry-run) dry_run=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown phase or option $arg (see --help)" >&2; exit 2 ;;
    esac
done
((${#phases[@]})) || phases=(install test-full bench)

step() {  # step NAME SECONDS COMMAND...: run it under a time limit, log it, note how it ended
    local name=$1 limit=$2 start=$SECONDS status=0
    shift 2
    if ((dry_run)); then
        printf '+ timeout %s' "$limit"; printf ' %q' "$@"; printf '\n'
        return 0
    fi
    timeout --signal=INT --kill-after=60 "$limit" "$@" > >(tee "$out/$name.log") 2>&1 ||
        status=$?
    echo "$name: exit $status after $((SECONDS - start)) s (limit $limit s)" | tee -a "$out/summary.txt"
}

machine() {
    {
        date -u
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
        echo "cores: $(nproc)"
        "$py" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__)'
    } > "$out/machine.txt" 2>&1
}

install() {
    if [[ -f .venv/.installed ]] && ((!dry_run)); then
        echo "install: .venv is already built" | tee -a "$out/summary.txt"
    else
        step install 300 tools/gpu_wheels.sh install
    fi
}

test_full() {
    # The run's own --timeout leaves it time to write its report before the outer limit.
    step test-full $((test_full_s + 120)) "$py" tools/full_profile.py --timeout "$test_full_s"
    ((dry_run)) || cp build/test-full-report.xml "$out/" 2>/dev/null || true
}

bench() {
    step bench-training "$bench_s" "$py" -m bench training --rounds 4 --compile off,reduce-overhead
    step bench-stacked "$bench_s" "$py" -m bench stacked --rounds 1
}

records() {
    ((dry_run)) || touch "$out/.records-start"
    step records-merging "$records_s" "$py" -m course_lib.labs.merging.experiments --profile full \
        --out course_lib/labs/merging/runs/full
    step records-shift-scale "$records_s" "$py" -m course_lib.labs.shift_scale --profile full \
        --out course_lib/labs/shift_scale/runs/full --deadline $((records_s - 60))
    ((dry_run)) || find course_lib/labs/*/runs/full -name '*.json' -newer "$out/.records-start" \
        -exec cp --parents {} "$out/records/" \;
}

((dry_run)) || mkdir -p "$out/records"
for phase in "${phases[@]}"; do
    "${phase//-/_}"
    if ((!dry_run)) && [[ ! -f $out/machine.txt && -x $py ]]; then machine; fi
done
