"""Optimizers: 100 steps over ResNet-18's 11.7 M parameters vs torch.optim (foreach=False).

Both sides update the same parameters with the same fixed random gradients, on the CPU, so
the ratio measures only the update rule: course_lib's plain per-parameter loop against torch's
single-tensor implementation.
"""

from __future__ import annotations

import torch
import torchvision

from bench.timing import Row, best_time
from course_lib import optim

STEPS = 100
ROUNDS = 3
CASES = [
    ("SGD", "SGD", {"lr": 0.1}),
    ("SGD Nesterov momentum, weight decay", "SGD",
     {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}),
    ("Adagrad", "Adagrad", {"lr": 0.01}),
    ("RMSprop centered, momentum", "RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}),
    ("Adam", "Adam", {"lr": 1e-3}),
    ("AdamW", "AdamW", {"lr": 1e-3, "weight_decay": 0.05}),
]


def resnet18_parameters() -> list[torch.Tensor]:
    """ResNet-18's parameter tensors, each with a fixed random gradient."""
    generator = torch.Generator().manual_seed(0)
    params = list(torchvision.models.resnet18().parameters())
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    return params


def copy_of(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """Fresh copies of the parameters that share the original gradients (never written to)."""
    copies = [p.detach().clone().requires_grad_() for p in params]
    for c, p in zip(copies, params, strict=True):
        c.grad = p.grad
    return copies


def interleaved_steps(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer):
    """Seconds of ``STEPS`` steps of each optimizer, alternating single steps.

    On a shared machine the load changes within seconds; alternating step by step makes both
    sides run under the same load, so their ratio stays meaningful.
    """
    ours_s = theirs_s = 0.0
    for _ in range(STEPS):
        ours_s += best_time(ours.step, repeat=1, warmup=0)
        theirs_s += best_time(theirs.step, repeat=1, warmup=0)
    return ours_s, theirs_s


def run() -> list[Row]:
    params = resnet18_parameters()
    rows = []
    for label, name, hyper in CASES:
        ours = getattr(optim, name)(copy_of(params), **hyper)
        theirs = getattr(torch.optim, name)(copy_of(params), foreach=False, **hyper)
        ours.step()  # allocate the optimizer state before timing
        theirs.step()
        times = [interleaved_steps(ours, theirs) for _ in range(ROUNDS)]
        ours_s, theirs_s = min(t[0] for t in times), min(t[1] for t in times)
        rows.append(Row(label, ours_s, theirs_s, reference="torch foreach=False"))
    return rows
