"""Data-parallel training: W processes with batch B / W each take the steps of one with batch B."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from course_lib import data, distributed, training
from course_lib.i18n import LANGUAGES, CourseError, t

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "ddp_train.py"
# 400 digits -> 280 training examples, 7 global batches of 40 = 2 processes x 20; float64 makes
# the only difference, the order of the gradient sums, vanish below 1e-12.
ARGS = ["--data", "digits", "--limit", "400", "--batch-size", "40", "--epochs", "2",
        "--dtype", "float64", "--device", "cpu"]


def ddp_train():
    spec = importlib.util.spec_from_file_location("ddp_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(nproc: int, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node nproc tools/ddp_train.py args`` on the loopback only."""
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    for _ in range(2):  # a second try if another process took the free port meanwhile
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                   "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1",
                   "--master_port", str(free_port()), "--max_restarts", "0", str(SCRIPT), *args]
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=90)
        if "address already in use" not in result.stderr.lower():
            break
    return result


def test_two_processes_train_exactly_like_one_with_the_same_global_batch(tmp_path):
    result = torchrun(2, [*ARGS, "--checkpoint", str(tmp_path / "ddp.pt")], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.count("2 process(es)") == 1  # only rank 0 prints
    two = torch.load(tmp_path / "ddp.pt", weights_only=True)

    model, history = ddp_train().train(ddp_train().parse(ARGS))
    assert two["epoch"] == 2
    for key, value in model.state_dict().items():
        torch.testing.assert_close(two["model"][key], value, rtol=0, atol=1e-12)
    assert two["history"]["step_loss"] == pytest.approx(history.step_loss, rel=1e-12)
    assert two["history"]["train_acc"] == history.train_acc
    assert two["history"]["val_loss"] == pytest.approx(history.val_loss, rel=1e-6)
    assert two["history"]["val_acc"] == history.val_acc
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.pt"]  # no stray temporary file


def test_the_ranks_batches_together_are_the_single_process_batch(monkeypatch):
    dataset = TensorDataset(torch.arange(100))
    whole = [b for (b,) in DataLoader(dataset, batch_size=20, sampler=distributed.sampler(dataset))]
    shards = []
    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    for rank in range(4):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        sampler = distributed.sampler(dataset)
        assert isinstance(sampler, DistributedSampler) and sampler.rank == rank
        shards.append([b for (b,) in DataLoader(dataset, batch_size=5, sampler=sampler)])
    for k, batch in enumerate(whole):
        together = torch.cat([shard[k] for shard in shards])
        assert sorted(together.tolist()) == sorted(batch.tolist())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_global_batch_that_does_not_split_evenly_is_explained(monkeypatch, lang):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    assert distributed.per_rank_batch(96) == 32
    for bad in (64, 2):
        with pytest.raises(CourseError) as error:
            distributed.per_rank_batch(bad, lang=lang)
        assert str(error.value) == t("training.batch_not_divisible", lang=lang, batch_size=bad,
                                     world_size=3)


def test_without_torchrun_it_is_one_process_of_rank_zero():
    assert distributed.setup(environ={}, device="cpu") == torch.device("cpu")
    assert not distributed.active()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    model = nn.Linear(2, 2)
    assert distributed.wrap(model, torch.device("cpu")) is model
    value = torch.ones(3)
    assert distributed.all_sum(value) is value and value.tolist() == [1.0, 1.0, 1.0]
    distributed.barrier()
    distributed.teardown()

    splits = data.load("spirals", limit=60)
    train, _, _ = splits.loaders(batch_size=8, distributed=True)
    assert train.batch_size == 8 and isinstance(train.sampler, DistributedSampler)


def test_only_rank_zero_writes_checkpoints(tmp_path, monkeypatch):
    x = torch.randn(32, 2)
    loader = DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=8)
    model = nn.Linear(2, 2)
    monkeypatch.setattr(distributed, "is_main", lambda: False)
    training.fit(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2,
                 checkpoint=tmp_path / "c.pt", progress=False)
    assert list(tmp_path.iterdir()) == []
