"""Many small models: R runs trained together (course_lib.stacked) against one after another.

Each case trains ``R`` runs (seeds) of one small model with Adam (lr 1e-3) for a few epochs,
twice: one by one in the ordinary loop (a seeded shuffling DataLoader, ``torch.optim.Adam``,
batches copied to the device), and stacked (``stacked.train_stacked``: one step updates every
run). Both sides train the same runs in the same batch order. Samples/s count every run:
``R * examples * epochs / seconds``, from the best of the alternating rounds; the speed-up is
``stacked / one by one`` (higher is better). On a CUDA machine the CPU rows come too: small
models may train faster there, which is what ``execution.pick_device`` decides (last column).
``python -m bench stacked --rounds 1 --model toy`` keeps one round and one case.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import data, models
from course_lib.execution import pick_device
from course_lib.stacked import seeded, train_stacked

ROUNDS = 3


@dataclass
class Case:
    """``runs`` copies of ``model`` (``toy``: the 1-100-1 MLP of lab 10; ``lenet``) trained
    ``epochs`` epochs on ``examples`` examples in batches of ``batch_size``."""

    name: str
    model: str
    runs: int
    batch_size: int
    examples: int
    epochs: int


def cases(device: torch.device) -> list[Case]:
    gpu = device.type == "cuda"
    return [
        Case("1-100-1 MLP, sines (lab 10 toy)", "toy", 45 if gpu else 10, 64, 700,
             5 if gpu else 2),
        Case("LeNet, MNIST sample", "lenet", 10 if gpu else 3, 64, 2048 if gpu else 256, 1),
    ]


def task(case: Case):
    """``(make_model, x, y, loss_fn)`` of ``case`` (tensors on the CPU)."""
    if case.model == "toy":
        x, y = data.load("sines", seed=0).train.tensors
        x = (x - x.mean(0)) / x.std(0)  # standardized, as lab 10's toy task
        return (lambda: models.mlp([1, 100, 1])), x[: case.examples], y[: case.examples], \
            nn.MSELoss()
    x, y = data.mnist_sample()
    return models.LeNet, x[: case.examples], y[: case.examples], nn.CrossEntropyLoss()


def one_by_one(nets, x, y, loss_fn, case: Case, device: torch.device) -> None:
    """The ordinary loop, run after run (``nets`` trained in place on ``device``)."""
    for seed, net in enumerate(nets):
        net.to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        loader = DataLoader(TensorDataset(x, y), batch_size=case.batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
        for _ in range(case.epochs):
            for xb, yb in loader:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                loss = loss_fn(net(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()


def stacked(nets, x, y, loss_fn, case: Case, device: torch.device) -> None:
    """The same runs trained together (``nets`` receive the trained weights)."""
    train_stacked(nets, (x, y), seeds=range(len(nets)), epochs=case.epochs,
                  batch_size=case.batch_size, optimizer="adam", lr=1e-3, loss_fn=loss_fn,
                  device=device)


def timed(train, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    train()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


@dataclass
class Speed:
    """Best seconds of each side on ``device`` and the device ``pick_device`` chooses."""

    case: Case
    device: str
    one_by_one_s: float
    stacked_s: float
    picked: str

    @property
    def samples(self) -> int:
        return self.case.runs * self.case.examples * self.case.epochs


def measure(case: Case, device: torch.device, rounds: int = ROUNDS) -> Speed:
    make_model, x, y, loss_fn = task(case)
    initial = seeded(make_model, range(case.runs))
    sides = {"one_by_one": one_by_one, "stacked": stacked}
    times = {side: [] for side in sides}
    for r in range(rounds + 1):  # round 0 warms up (allocator, cuDNN, vmap)
        for side in (sorted(sides) if r % 2 == 0 else sorted(sides, reverse=True)):
            nets = copy.deepcopy(initial)
            seconds = timed(lambda nets=nets, side=side: sides[side](
                nets, x, y, loss_fn, case, device), device)
            if r > 0:
                times[side].append(seconds)
    picked = pick_device(initial[0], x[: case.batch_size], runs=case.runs, device=devices()[-1])
    return Speed(case, device.type, min(times["one_by_one"]), min(times["stacked"]),
                 picked.type)


def devices() -> list[torch.device]:
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def run(rounds: int | str = ROUNDS, model: str = "toy,lenet") -> list[Speed]:
    """The cases of the comma-separated ``model`` names on every device."""
    gpu = devices()[-1]
    return [measure(case, dev, int(rounds)) for case in cases(gpu)
            if case.model in model.split(",") for dev in devices()]


def print_table(title: str, rows: list[Speed]) -> None:
    print(f"\n{title} ({torch.get_num_threads()} CPU threads)")
    print(f"{'case':<36}{'device':>7}{'runs':>5}{'batch':>6}{'one by one [1/s]':>18}"
          f"{'stacked [1/s]':>15}{'speed-up':>9}{'picked':>7}")
    for r in rows:
        print(f"{r.case.name:<36}{r.device:>7}{r.case.runs:>5}{r.case.batch_size:>6}"
              f"{r.samples / r.one_by_one_s:>18.0f}{r.samples / r.stacked_s:>15.0f}"
              f"{r.one_by_one_s / r.stacked_s:>9.2f}{r.picked:>7}")
