"""Train the grid of lab 09 and write its JSON records into a folder::

    python -m course_lib.labs.shift_scale --profile full --out runs/lab09_full

The runs of each group (one config but for learning rate and seed) are trained stacked
(``batched.train_group``), on CUDA when available; runs already in ``--out`` (or shipped with
the package) are skipped, so an interrupted grid resumes. ``--tiny`` trains every run of the
same grid through the same code with toy sizes (one epoch of two batches of four examples,
at most four channels or units per layer), a check that takes seconds on a CPU;
``--experiments 1 5`` keeps those experiments only. ``--deadline S`` starts no new group after
S seconds. After the grid, the runs of ``analysis.shift_mean_configs`` (with experiment 1) are
trained once more, one by one, to measure the means of their shift layers' inputs
(``analysis.shift_means``). The last line says how many runs were trained and in how many
seconds.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from . import analysis, runner


def tiny(config: runner.RunConfig) -> runner.RunConfig:
    """``config`` with toy sizes: one epoch of two batches of 4 examples, 8 validation and 8
    test examples, at most 4 channels or units per layer."""
    return replace(config, epochs=1, batch_size=4, n_train=8, n_val=8, n_test=8,
                   widths=tuple(min(w, 4) for w in config.widths))


def grid(profile: str, experiments=None, toy: bool = False) -> list[runner.RunConfig]:
    """The configs of the notebook's grid in ``profile`` (``analysis.grid_configs``), only
    ``experiments`` if given, shrunk by ``tiny`` if ``toy``."""
    configs = analysis.grid_configs(profile)
    if experiments:
        keep = {c for n in experiments for c in analysis.experiment_configs(n, profile)}
        if 1 in experiments:
            keep |= set(analysis.learned_value_configs(profile))
        if analysis.ORDER_EXPERIMENT in experiments:
            keep |= set(analysis.order_configs(profile))
        if analysis.REGULARIZED_EXPERIMENT in experiments:
            keep |= set(analysis.weight_decay_configs(profile))
        configs = [c for c in configs if c in keep]
    return list(dict.fromkeys(tiny(c) for c in configs)) if toy else configs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.labs.shift_scale",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=("quick", "full"), default="full")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the JSON records (default: $COURSE_RUNS/shift_scale)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--experiments", type=int, nargs="*", default=None)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--deadline", type=float, default=None)
    parser.add_argument("--lang", default="en")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else runner.cache_dir()
    configs = grid(args.profile, args.experiments, args.tiny)
    start, trained = time.perf_counter(), 0
    print(f"{len(configs)} runs, {len(runner.groups(configs))} groups, device {args.device}, "
          f"sizes {analysis.sizes_name(args.profile)}, out {out}", flush=True)
    for group in runner.groups(configs):
        if args.deadline is not None and time.perf_counter() - start > args.deadline:
            print(f"deadline of {args.deadline:g} s reached", flush=True)
            break
        missing = [c for c in group if runner.load(c, out) is None]
        runner.run_grid(missing, cache=out, progress=False, lang=args.lang,
                        device=args.device, stacked=True,
                        echo=lambda line: print(f"{time.perf_counter() - start:8.1f} s  {line}",
                                                flush=True))
        trained += len(missing)
    if not args.experiments or 1 in args.experiments:
        for variant, group in analysis.shift_mean_configs(args.profile).items():
            group = [tiny(c) for c in group] if args.tiny else group
            if args.deadline is not None and time.perf_counter() - start > args.deadline:
                break
            for config in group:
                if runner.find_file(analysis.shift_means_name(config), out) is None:
                    analysis.shift_means(config, cache=out, device=args.device)
                    trained += 1
            print(f"{time.perf_counter() - start:8.1f} s  shift means of {variant}", flush=True)
    print(f"trained {trained} runs in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
