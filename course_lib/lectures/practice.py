"""The experiments of lecture 07 (training practice), shared by the notebook and its claim tests.

Everything runs on sklearn's digits (8x8, 10 classes) with a one-hidden-layer MLP trained by
``course_lib.training.fit`` with SGD + momentum 0.9, so a run of a few epochs takes a fraction of
a second on a CPU. Inputs are normalized per channel with the training set's statistics.

    digits = load_digits()
    run = train_mlp(digits, lr=0.1, epochs=5, track_ratios=True)
    run.history.train_loss, run.ratios.median()
    objective = search_objective(digits, epochs=3)      # objective(lr, reg) -> val accuracy
    ts, losses, accs = loss_and_accuracy_along(run.model, digits.x_val, digits.y_val, ts)
    y_binary = one_vs_rest(digits.y_test, digit=0)      # 1 for the digit, 0 for the rest
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import data, metrics, monitoring, preprocessing, search
from ..training import History, evaluate, fit


class TensorBatches:
    """Shuffled mini-batches of in-memory tensors: a fast ``DataLoader`` for small data sets.

    A new order in every epoch from its own seeded ``generator`` (which ``fit`` checkpoints).
    """

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, seed: int = 0, shuffle=True):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.x[index], self.y[index]


@dataclass
class Digits:
    """Digits split 70 / 15 / 15 %, images (N, 1, 8, 8) normalized with training statistics."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: Tensor
    std: Tensor

    def train_batches(self, batch_size: int = 64, n: int | None = None, seed: int = 0):
        """Shuffled batches of the first ``n`` training examples (all by default)."""
        return TensorBatches(self.x_train[:n], self.y_train[:n], batch_size, seed)

    def val_batches(self):
        return [(self.x_val, self.y_val)]

    def test_batches(self):
        return [(self.x_test, self.y_test)]


def load_digits(seed: int = 0) -> Digits:
    """The digits with the fixed split of ``course_lib.data``, normalized per channel."""
    splits = data.load("digits", seed=seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        part.tensors for part in (splits.train, splits.val, splits.test))
    mean, std = preprocessing.channel_stats(x_train)

    def norm(x):
        return preprocessing.normalize_channels(x, mean, std)

    return Digits(norm(x_train), y_train, norm(x_val), y_val, norm(x_test), y_test, mean, std)


def digits_mlp(hidden: int = 64, init_std: float | None = None, seed: int = 0) -> nn.Sequential:
    """``Flatten, Linear(64, hidden), ReLU, Linear(hidden, 10)``; weights ``1.weight``,
    ``3.weight``. With ``init_std`` every weight is ``N(0, init_std^2)`` and every bias 0;
    otherwise PyTorch's default initialization."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    if init_std is not None:
        for module in model:
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=init_std)
                nn.init.zeros_(module.bias)
    return model


@dataclass
class Run:
    """One training run: its history, the trained model and (optionally) the update ratios."""

    lr: float
    history: History
    model: nn.Module
    ratios: monitoring.UpdateRatios | None = None


def train_mlp(digits: Digits, lr: float, reg: float = 0.0, epochs: int = 5, hidden: int = 64,
              n_train: int | None = None, batch_size: int = 64, seed: int = 0,
              track_ratios: bool = False, progress: bool = False, lang: str | None = None) -> Run:
    """Train ``digits_mlp(hidden)`` with SGD (momentum 0.9, ``weight_decay=reg``) on the first
    ``n_train`` training examples, validating after every epoch."""
    model = digits_mlp(hidden, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=reg)
    tracker = monitoring.UpdateRatios(model, optimizer) if track_ratios else None
    history = fit(model, digits.train_batches(batch_size, n_train, seed), optimizer,
                  epochs=epochs, val_data=digits.val_batches(), progress=progress, lang=lang)
    if tracker is not None:
        tracker.remove()
    return Run(lr, history, model, tracker)


def lr_sweep(digits: Digits, lrs, epochs: int = 5, seed: int = 0) -> list[Run]:
    """``train_mlp`` once per learning rate, same seed (same initialization and batch order)."""
    return [train_mlp(digits, lr, epochs=epochs, seed=seed, track_ratios=True) for lr in lrs]


def overfit_tiny(digits: Digits, n: int = 20, epochs: int = 50, lr: float = 0.1,
                 seed: int = 0) -> Run:
    """Sanity check 2: ``n`` training examples, one batch, no regularization, many epochs."""
    return train_mlp(digits, lr, epochs=epochs, n_train=n, batch_size=n, seed=seed)


def search_objective(digits: Digits, epochs: int = 3, seed: int = 0):
    """``objective(lr, reg) -> validation accuracy`` after a short run, for ``course_lib.search``.
    A diverged run (NaN loss) scores 0."""

    def objective(lr: float, reg: float) -> float:
        run = train_mlp(digits, lr, reg=reg, epochs=epochs, seed=seed)
        if not math.isfinite(run.history.train_loss[-1]):
            return 0.0
        return run.history.val_acc[-1]

    return objective


def round_summary(results) -> list[tuple[int, float, float, int]]:
    """``(round, best, median, trials)`` of the validation accuracies of each search round."""
    summary = []
    for index in sorted({row["round"] for row in results}):
        accuracies = [row["val_acc"] for row in results if row["round"] == index]
        summary.append((index, max(accuracies), statistics.median(accuracies), len(accuracies)))
    return summary


def evaluate_on_test(run: Run, digits: Digits) -> float:
    """Accuracy on the test set: computed once, for the model chosen on validation."""
    return evaluate(run.model, digits.test_batches()).accuracy


def important_score(x: float) -> float:
    """A made-up validation accuracy that depends on one hyper-parameter ``x`` in [0, 1] only;
    its peak at 0.7 lies between the points of a 3 x 3 grid."""
    return 0.2 + 0.7 * math.exp(-(((x - 0.7) / 0.12) ** 2))


def grid_and_random(n_side: int = 3, seed: int = 0) -> tuple[list[tuple], list[tuple]]:
    """``n_side^2`` points in [0, 1]^2 on a grid (cell centres) and as many uniform random ones."""
    ticks = [(i + 0.5) / n_side for i in range(n_side)]
    grid = [(a, b) for a in ticks for b in ticks]
    rng = random.Random(seed)
    return grid, [(rng.random(), rng.random()) for _ in grid]


def decade_shares(n: int = 2000, low: float = 1e-6, high: float = 1e-1,
                  seed: int = 0) -> dict[str, list[float]]:
    """Share of ``n`` samples in each decade [1e-6, 1e-5), ..., [1e-2, 1e-1] for a uniform and a
    log-uniform distribution on [low, high] (``search.Uniform`` / ``search.LogUniform``)."""
    first, last = round(math.log10(low)), round(math.log10(high))
    shares = {}
    for name, dist in (("uniform", search.Uniform(low, high)),
                       ("log_uniform", search.LogUniform(low, high))):
        rng = random.Random(seed)
        counts = [0] * (last - first)
        for _ in range(n):
            decade = math.floor(math.log10(dist.sample(rng))) - first
            counts[min(max(decade, 0), len(counts) - 1)] += 1
        shares[name] = [count / n for count in counts]
    return shares


def loss_and_accuracy_along(model: nn.Module, x: Tensor, y: Tensor, ts, seed: int = 0
                            ) -> tuple[list[float], list[float]]:
    """Cross-entropy and accuracy of ``model`` with its weights moved to ``w + t d`` for each t
    in ``ts``, d a random direction (one normal draw per weight, seeded) scaled to ``||w||``.
    The model's weights are restored afterwards."""
    generator = torch.Generator().manual_seed(seed)
    params = list(model.parameters())
    start = [p.detach().clone() for p in params]
    norm = torch.sqrt(sum((p**2).sum() for p in start))
    direction = [torch.randn(p.shape, generator=generator) for p in start]
    scale = norm / torch.sqrt(sum((d**2).sum() for d in direction))
    losses, accuracies = [], []
    with torch.no_grad():
        for step in ts:
            for p, p0, d in zip(params, start, direction, strict=True):
                p.copy_(p0 + step * scale * d)
            logits = model(x)
            losses.append(nn.functional.cross_entropy(logits, y).item())
            accuracies.append((logits.argmax(dim=1) == y).double().mean().item())
        for p, p0 in zip(params, start, strict=True):
            p.copy_(p0)
    return losses, accuracies


def one_vs_rest(y: Tensor, digit: int) -> Tensor:
    """Binary labels: 1 where ``y == digit`` (the rare positive class), 0 for the rest."""
    return (y == digit).long()


def binary_report(y_true: Tensor, y_pred: Tensor) -> dict[str, float]:
    """Accuracy, and precision, recall, F1 of the positive class 1, from the confusion matrix."""
    matrix = metrics.confusion_matrix(y_true, y_pred, 2)
    precision, recall, f1 = metrics.precision_recall_f1(matrix)
    return {"accuracy": metrics.accuracy(matrix), "precision": precision[1].item(),
            "recall": recall[1].item(), "f1": f1[1].item()}
