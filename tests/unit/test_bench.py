"""bench/: the notebook timing table, the fit-against-a-loop throughput benchmark and the
stacked-against-one-by-one benchmark, each on tiny cases so that they run on the CPU."""

import json

import pytest
import torch

from bench import bench_stacked, bench_training, notebooks
from bench.__main__ import main, split_options

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" skipped="0"
 tests="6" time="512.5" timestamp="2026-11-23T22:00:00" hostname="h">
<testcase classname="notebooks.sk.00_pytorch_basics.ipynb" name="Cell 0" time="1.5" />
<testcase classname="notebooks.sk.00_pytorch_basics.ipynb" name="Cell 1" time="2.0" />
<testcase classname="notebooks.ru.00_pytorch_basics.ipynb" name="Cell 0" time="4.0" />
<testcase classname="notebooks.sr.01_neuron_activations.ipynb" name="Cell 3" time="0.5" />
<testcase classname="tests.unit.test_training" name="test_fit_learns" time="3.0" />
<testcase classname="tests.claims.test_training_claims" name="test_ema" time="1.0" />
</testsuite></testsuites>
"""


def test_the_report_gives_seconds_per_notebook_and_the_wall_time(tmp_path, capsys):
    path = tmp_path / "report.xml"
    path.write_text(REPORT)
    per_notebook, groups, wall = notebooks.read_report(path)
    assert per_notebook == {"sk/00_pytorch_basics.ipynb": 3.5, "ru/00_pytorch_basics.ipynb": 4.0,
                            "sr/01_neuron_activations.ipynb": 0.5}
    assert groups == {"tests/unit": 3.0, "tests/claims": 1.0}
    assert wall == 512.5

    assert main(["notebooks", "--report", str(path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["00_pytorch_basics.ipynb", "3.5", "-", "4.0"] for line in table)
    assert any(line.split()[:5] == ["wall", "time", "of", "the", "run"] and "512.5" in line
               for line in table)

    assert main(["notebooks", "--report", str(tmp_path / "missing.xml")]) == 1
    assert "make test" in capsys.readouterr().out


def test_the_notebooks_above_the_limit_are_named_slowest_first(tmp_path, capsys):
    path = tmp_path / "report.xml"
    path.write_text(REPORT)
    assert main(["notebooks", "--report", str(path), "--limit", "3"]) == 0
    assert ("above 3 s: ru/00_pytorch_basics.ipynb (4.0 s), sk/00_pytorch_basics.ipynb (3.5 s)"
            in capsys.readouterr().out.splitlines())
    assert main(["notebooks", "--report", str(path), "--limit", "240"]) == 0
    assert "no notebook above 240 s (slowest: 4.0 s)" in capsys.readouterr().out.splitlines()


def test_a_notebook_with_fewer_tests_than_code_cells_is_named_unfinished(tmp_path, capsys):
    path = tmp_path / "report.xml"
    path.write_text(REPORT)
    folder = tmp_path / "notebooks"
    for name, code_cells in (("sk/00_pytorch_basics.ipynb", 2), ("ru/00_pytorch_basics.ipynb", 3),
                             ("sr/01_neuron_activations.ipynb", 1)):
        cells = [{"cell_type": "markdown"}] + [{"cell_type": "code"}] * code_cells
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps({"cells": cells}))
    assert notebooks.unfinished(path, folder) == {"ru/00_pytorch_basics.ipynb": (1, 3)}
    notebooks.print_unfinished(notebooks.unfinished(path, folder))
    assert capsys.readouterr().out.splitlines()[-1] == (
        "not finished (cells run of code cells): ru/00_pytorch_basics.ipynb (1 of 3)")


def test_the_hand_written_loop_does_the_same_training_as_fit():
    case = bench_training.Case("tiny ResNet-20", "resnet20", batch_size=8, examples=16)
    sides = bench_training.sides(case, torch.device("cpu"))
    for _, epoch in sides.values():
        epoch()
        epoch()
    (fitted, _), (looped, _) = sides["fit"], sides["loop"]
    for a, b in zip(fitted.state_dict().values(), looped.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_throughput_table_reports_samples_per_second_the_ratio_and_tflops(monkeypatch,
                                                                              capsys):
    case = bench_training.Case("tiny ResNet-20", "resnet20", batch_size=8, examples=16)
    monkeypatch.setattr(bench_training, "peak_memory", lambda case, side, device: 2**20 * 100)
    row = bench_training.measure(case, torch.device("cpu"), rounds=1)
    assert row.fit_s > 0 and row.loop_s > 0 and row.ratio == row.loop_s / row.fit_s  # 1 round
    assert row.flops_per_sample == pytest.approx(2.44e8, rel=0.01)  # ResNet-20, 3x32x32
    assert row.tflops == pytest.approx(16 / row.fit_s * row.flops_per_sample / 1e12)
    assert row.peak_flops is None  # no bf16 peak for a CPU
    bench_training.print_table("Training throughput", [row])
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("tiny ResNet-20") and f"{16 / row.fit_s:.0f}" in line
    assert line.split()[-5] == "-"  # the share of the peak, unknown here


def test_the_bf16_peak_is_looked_up_by_the_most_specific_device_name():
    assert bench_training.bf16_peak("NVIDIA H200") == 989e12
    assert bench_training.bf16_peak("NVIDIA H100 PCIe") == 756e12
    assert bench_training.bf16_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert bench_training.bf16_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert bench_training.bf16_peak("Tesla V100-SXM2-16GB") is None  # no bfloat16 units


def test_a_compile_mode_compiles_both_sides_alike(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda module, **options: calls.append(options) or module)
    case = bench_training.Case("tiny ResNet-20", "resnet20", batch_size=4, examples=4)
    sides = bench_training.sides(case, torch.device("cpu"), mode="reduce-overhead")
    for _, epoch in sides.values():
        epoch()
    assert calls == [{"mode": "reduce-overhead"}] * 2
    assert bench_training.compile_option("off") is False


def test_options_reach_the_benchmarks_that_take_them():
    assert split_options(["training", "--compile", "off,default", "--rounds=2"]) == (
        ["training"], {"compile": "off,default", "rounds": "2"})
    with pytest.raises(SystemExit, match="--colour"):
        main(["stacked", "--colour", "red"])


def test_stacked_and_one_by_one_train_the_same_runs():
    case = bench_stacked.Case("tiny toy", "toy", runs=3, batch_size=16, examples=40, epochs=2)
    make_model, x, y, loss_fn = bench_stacked.task(case)
    alone, together = (bench_stacked.seeded(make_model, range(3)) for _ in range(2))
    bench_stacked.one_by_one(alone, x, y, loss_fn, case, torch.device("cpu"))
    bench_stacked.stacked(together, x, y, loss_fn, case, torch.device("cpu"))
    for a, b in zip(alone, together, strict=True):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)  # float32 rounding


def test_the_stacked_table_reports_both_speeds_and_the_picked_device(capsys):
    case = bench_stacked.Case("tiny toy", "toy", runs=2, batch_size=8, examples=16, epochs=1)
    row = bench_stacked.measure(case, torch.device("cpu"), rounds=1)
    assert row.samples == 32 and row.one_by_one_s > 0 and row.stacked_s > 0
    assert row.picked == "cpu"
    bench_stacked.print_table("Many small models", [row])
    line = capsys.readouterr().out.splitlines()[-1].split()
    assert line[-7:] == ["cpu", "2", "8", f"{32 / row.one_by_one_s:.0f}",
                         f"{32 / row.stacked_s:.0f}", f"{row.one_by_one_s / row.stacked_s:.2f}",
                         "cpu"]
