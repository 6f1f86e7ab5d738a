#!/usr/bin/env bash
# The full profile on a GPU machine without network: wheels downloaded here, installed there.
#
# Here (network, after `make venv`):
#   tools/gpu_wheels.sh download            # -> wheels/py312/*.whl and wheels/py312/requirements.txt
# Copy the repository with wheels/ to the GPU machine (Python 3.12, its own torch and torchvision), then:
#   tools/gpu_wheels.sh install             # .venv on top of the machine's torch, offline
#   make test-full
#
# The list is every package of .venv (the closure of requirements.txt, `pip freeze --all`, same
# pins) except torch, torchvision and their CUDA companions (triton, nvidia-*, cuda-*), which
# the GPU machine brings. Each wheel is fetched for the target Python and platform with
# --no-deps (the list is already complete); a package published only as source is fetched as
# such and built there from the downloaded setuptools.
#
# Options: --dry-run (print the commands, change nothing), --dest DIR (default wheels/py312),
# --venv DIR (default .venv), --freeze FILE (a `pip freeze` output instead of the venv's),
# --python-version V (default 3.12), --platform P (repeatable; default manylinux_2_28_x86_64
# and manylinux2014_x86_64), --python PY (install: the interpreter with torch, default python3).
set -euo pipefail

mode=download
dry_run=0
dest=wheels/py312
venv=.venv
freeze=
python_version=3.12
platforms=()
python=python3

while (($#)); do
    case "$1" in
        download | install) mode=$1 ;;
        --dry-run) dry_run=1 ;;
        --dest) dest=$2; shift ;;
        --venv) venv=$2; shift ;;
        --freeze) freeze=$(realpath "$2"); shift ;;
        --python-version) python_version=$2; shift ;;
        --platform) platforms+=("$2"); shift ;;
        --python) python=$2; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_wheels.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
((${#platforms[@]})) || platforms=(manylinux_2_28_x86_64 manylinux2014_x86_64)
cd "$(dirname "$0")/.."  # paths are relative to the repository root
pip_python=python3  # the pip that downloads: the venv's where there is one
[[ -x $venv/bin/python ]] && pip_python=$venv/bin/python

run() {  # run a command, or only print it with --dry-run
    if ((dry_run)); then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

pinned_list() {  # name==version lines of the venv, without what the GPU machine has
    if [[ -n $freeze ]]; then cat "$freeze"; else "$venv/bin/python" -m pip freeze --all; fi |
        grep -E '^[A-Za-z0-9_.-]+==' |
        grep -viE '^(torch|torchvision|triton|nvidia-[^=]*|cuda-[^=]*|pip)==' |
        sort -f
}

download() {
    local list=$dest/requirements.txt
    local common=(--dest "$dest" --no-deps --python-version "$python_version")
    for platform in "${platforms[@]}"; do common+=(--platform "$platform"); done
    run mkdir -p "$dest"
    if ((dry_run)); then
        echo "# $list:"
        pinned_list
    else
        pinned_list > "$list"
    fi
    if ! run "$pip_python" -m pip download "${common[@]}" --only-binary=:all: -r "$list"; then
        # Some package has no wheel for the target: fetch the others as wheels, that one as
        # source (pure Python, built at install time).
        while read -r requirement; do
            "$pip_python" -m pip download "${common[@]}" --only-binary=:all: "$requirement" ||
                "$pip_python" -m pip download --dest "$dest" --no-deps --no-binary=:all: "$requirement"
        done < "$list"
    fi
    ((dry_run)) || echo "wheels for Python $python_version in $dest; copy it to the GPU machine"
}

install() {
    run "$python" -c "import torch, torchvision"
    run "$python" -m venv --system-site-packages "$venv"
    run "$venv/bin/python" -m pip install --no-index --find-links "$dest" -r "$dest/requirements.txt"
    run "$venv/bin/python" -m pip install --no-index --find-links "$dest" --no-deps -e .
    # make then finds the venv up to date and does not reinstall from the network.
    run touch "$venv/.installed"
}

"$mode"
