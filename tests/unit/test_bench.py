"""bench/: the notebook timing table and the fit-against-a-loop throughput benchmark."""

import torch

from bench import bench_training, notebooks
from bench.__main__ import main

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


def test_the_hand_written_loop_does_the_same_training_as_fit():
    case = bench_training.Case("tiny ResNet-20", "resnet20", batch_size=8, examples=16)
    sides = bench_training.sides(case, torch.device("cpu"))
    for _, epoch in sides.values():
        epoch()
        epoch()
    (fitted, _), (looped, _) = sides["fit"], sides["loop"]
    for a, b in zip(fitted.state_dict().values(), looped.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_throughput_table_reports_samples_per_second_and_the_ratio(monkeypatch, capsys):
    case = bench_training.Case("tiny ResNet-20", "resnet20", batch_size=8, examples=16)
    monkeypatch.setattr(bench_training, "peak_memory", lambda case, side, device: 2**20 * 100)
    row = bench_training.measure(case, torch.device("cpu"), rounds=1)
    assert row.fit_s > 0 and row.loop_s > 0 and row.ratio == row.loop_s / row.fit_s  # 1 round
    bench_training.print_table("Training throughput", [row])
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("tiny ResNet-20") and f"{16 / row.fit_s:.0f}" in line
