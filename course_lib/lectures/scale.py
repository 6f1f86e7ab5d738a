r"""The experiments of lecture 11 (training at scale), shared by the notebook and its claim tests.

Four topics, each on what ``course_lib`` already does (``training.fit``, ``execution``,
``distributed`` and ``tools/ddp_train.py``):

- **number formats**: bits and limits of float32, bfloat16 and float16 (``number_formats``),
  what a cast does to values (``cast_outcome``), the gradients that reach the hidden layer of a
  trained digits MLP (``hidden_gradient``) and dynamic loss scaling (``scaler_trajectory``);
- **checkpoints**: a run interrupted in the middle of an epoch and resumed from its checkpoint
  against one that never stopped, and against a restart from the weights alone (``resume_demo``);
- **data parallelism** simulated in one process: ``W`` workers, each with ``b = B / W`` examples
  of a global batch of ``B``, average their gradients (``worker_gradients``); batch norm with
  per-worker or synchronized statistics (``WorkerBatchNorm``); the linear scaling rule with
  warm-up (``goyal_lr`` on ``scaled_lr``, the reference of the lecture's exercise in
  ``course_lib.exercises.scale``; ``scaling_runs``); and a real run of
  ``tools/ddp_train.py`` under torchrun (``compare_ddp``, ``RECORDED_DDP``);
- **throughput**: samples per second of training steps, after warm-up and synchronized with
  the GPU (``measure_throughput``).

Every experiment on digits uses ``course_lib.lectures.practice`` (the split of lecture 07, its
MLP 64-64-10 and its seeded batches) and runs on the CPU, where ``fit`` is bit-for-bit
reproducible.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import models
from ..execution import Runner
from ..exercises.scale import scaled_lr
from ..i18n import t
from ..training import History, fit
from .practice import Digits, TensorBatches, digits_mlp, train_mlp

FORMATS = (torch.float32, torch.bfloat16, torch.float16)
NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


# --- number formats ------------------------------------------------------------------------

@dataclass(frozen=True)
class NumberFormat:
    """A binary floating-point format: 1 sign bit, ``exponent_bits``, ``mantissa_bits``.

    A normal number is ``(-1)^s * 1.m * 2^(e - bias)``; the exponent's range sets ``max`` and
    ``smallest_normal``, the mantissa sets the precision ``eps = 2^-mantissa_bits`` (the gap
    between 1 and the next number). Below ``smallest_normal`` come the subnormal numbers down to
    ``smallest_subnormal = smallest_normal * eps``. A cast rounds to the nearest number (ties to
    even), so what becomes 0 is a magnitude up to ``zero_below = smallest_subnormal / 2`` and
    what becomes inf is one from ``inf_from = max + ulp(max) / 2`` on, with
    ``ulp(max) = 2^(floor(log2 max) - mantissa_bits)``.
    """

    name: str
    exponent_bits: int
    mantissa_bits: int
    max: float
    smallest_normal: float
    smallest_subnormal: float
    eps: float

    @property
    def zero_below(self) -> float:
        """Magnitudes up to this one (included: the tie goes to the even 0) round to 0."""
        return self.smallest_subnormal / 2

    @property
    def inf_from(self) -> float:
        """Magnitudes from this one on (included: the tie goes to the even inf) round to inf."""
        return self.max + 2.0 ** (math.floor(math.log2(self.max)) - self.mantissa_bits) / 2


def number_format(dtype: torch.dtype) -> NumberFormat:
    """The ``NumberFormat`` of ``dtype``, read from ``torch.finfo``."""
    info = torch.finfo(dtype)
    mantissa = round(-math.log2(info.eps))
    return NumberFormat(NAMES[dtype], info.bits - 1 - mantissa, mantissa, float(info.max),
                        float(info.smallest_normal), float(info.smallest_normal * info.eps),
                        float(info.eps))


def number_formats(dtypes=FORMATS) -> list[NumberFormat]:
    """float32, bfloat16 and float16 side by side: 8/23, 8/7 and 5/10 exponent/mantissa bits."""
    return [number_format(dtype) for dtype in dtypes]


def round_trip(values: Tensor, dtype: torch.dtype, scale: float = 1.0) -> Tensor:
    """``values`` times ``scale``, stored in ``dtype``, back in float64 and divided by ``scale``:
    what is left of each value after a trip through the format (inf where it overflowed, 0
    where it underflowed)."""
    return (values.double() * scale).to(dtype).double() / scale


@dataclass(frozen=True)
class CastOutcome:
    """Shares of the nonzero ``values`` that a cast to a format flushed to 0 or turned to inf."""

    zero: float
    inf: float

    @property
    def kept(self) -> float:
        return 1.0 - self.zero - self.inf


def cast_outcome(values: Tensor, dtype: torch.dtype, scale: float = 1.0) -> CastOutcome:
    """What storing ``values * scale`` in ``dtype`` does to the nonzero values."""
    values = values[values != 0]
    back = round_trip(values, dtype, scale)
    n = max(values.numel(), 1)
    return CastOutcome(float((back == 0).sum()) / n, float(back.isinf().sum()) / n)


def trained_digits_mlp(digits: Digits, epochs: int = 5, lr: float = 0.1) -> nn.Module:
    """Lecture 07's MLP trained on the digits (SGD, momentum 0.9): late in training, when the
    predictions are mostly right, its gradients are small."""
    return train_mlp(digits, lr, epochs=epochs).model


def hidden_gradient(model: nn.Module, x: Tensor, y: Tensor, amp: torch.dtype | None = None,
                    scale: float = 1.0) -> Tensor:
    """The gradient of the mean cross-entropy over ``(x, y)`` with respect to the output of the
    first linear layer (``model[1]``), in float64, shape ``(N, hidden)``.

    With ``amp`` the forward pass runs under ``torch.autocast`` in that dtype, so the layer's
    output, and the gradient that flows back into it, are stored in ``amp``; the loss is
    multiplied by ``scale`` before ``backward`` and the gradient divided by it afterwards in
    float64 (loss scaling). Without ``amp``: float32, the reference.
    """
    saved = {}

    def keep(module, inputs, output):
        output.retain_grad()
        saved["out"] = output

    handle = model[1].register_forward_hook(keep)
    try:
        model.zero_grad()
        with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
            loss = F.cross_entropy(model(x), y)
        (loss * scale).backward()
    finally:
        handle.remove()
    model.zero_grad()
    return saved["out"].grad.double() / scale


def scaler_trajectory(overflow_steps, steps: int, init_scale: float = 2.0**16,
                      growth_interval: int = 3) -> tuple[list[float], list[bool]]:
    """The loss scale of ``torch.amp.GradScaler`` after each of ``steps`` steps of a toy
    parameter whose gradient is inf at the steps in ``overflow_steps`` (numbered from 0).

    The scaler's rule (``growth_factor=2``, ``backoff_factor=0.5``): a step with an inf or NaN
    gradient is skipped and the scale halved; after ``growth_interval`` steps in a row without
    one the scale doubles (``course_lib.exercises.scale.update_scale`` writes it out). Returns
    ``(scale after each step, whether each step was taken)``.
    """
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=growth_interval)
    scales, taken = [], []
    for step in range(steps):
        optimizer.zero_grad()
        scaler.scale((weight - 1.0).pow(2).sum()).backward()
        if step in overflow_steps:
            weight.grad.fill_(math.inf)
        before = weight.detach().clone()
        scaler.step(optimizer)
        scaler.update()
        scales.append(scaler.get_scale())
        taken.append(not torch.equal(before, weight.detach()))
    return scales, taken


def train_with_amp(digits: Digits, amp, epochs: int = 3, lr: float = 0.1,
                   seed: int = 0) -> History:
    """Lecture 07's MLP trained by ``fit(..., amp=amp)`` on the CPU (``amp=False``: float32,
    ``torch.bfloat16``, or ``torch.float16`` with ``GradScaler``); what ``fit`` recorded."""
    model = digits_mlp(seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return fit(model, digits.train_batches(64, seed=seed), optimizer, epochs=epochs,
               val_data=digits.val_batches(), progress=False, amp=amp)


# --- checkpoints -----------------------------------------------------------------------------

class Interrupted(Exception):
    """The stand-in for a job that is killed (out of time, a lost machine) in mid-epoch."""


class InterruptedBatches:
    """``batches`` that stop with ``Interrupted`` before the ``at``-th batch (counted from 0
    over all epochs); ``generator`` is that of ``batches``, so ``fit`` checkpoints it."""

    def __init__(self, batches: TensorBatches, at: int):
        self.batches, self.at, self.served = batches, at, 0
        self.generator = batches.generator

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            if self.served == self.at:
                raise Interrupted(self.at)
            self.served += 1
            yield batch


def _checkpointed_run(digits: Digits, epochs: int, checkpoint, resume: bool = False,
                      interrupt_at: int | None = None, seed: int = 0):
    """Lecture 07's MLP, SGD with momentum 0.9 and a step schedule halving ``lr`` every 2
    epochs: model, optimizer, schedule and loader all carry state that a resume must restore."""
    model = digits_mlp(seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    batches = digits.train_batches(64, seed=seed)
    if interrupt_at is not None:
        batches = InterruptedBatches(batches, interrupt_at)
    fit(model, batches, optimizer, epochs=epochs, scheduler=scheduler, checkpoint=checkpoint,
        resume=resume, progress=False)
    return model


def _weights(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@dataclass
class ResumeDemo:
    """Weights after ``epochs`` epochs three ways: uninterrupted, interrupted in epoch
    ``interrupted_in`` and resumed from the checkpoint, and restarted from the weights alone."""

    epochs: int
    interrupted_in: int
    checkpoint_epoch: int
    uninterrupted: dict[str, Tensor]
    resumed: dict[str, Tensor]
    weights_only: dict[str, Tensor]

    @staticmethod
    def _max_difference(a: dict, b: dict) -> float:
        return max(float((a[k] - b[k]).abs().max()) for k in a)

    @property
    def resumed_difference(self) -> float:
        return self._max_difference(self.uninterrupted, self.resumed)

    @property
    def weights_only_difference(self) -> float:
        return self._max_difference(self.uninterrupted, self.weights_only)

    @property
    def bit_identical(self) -> bool:
        return all(torch.equal(self.uninterrupted[k], self.resumed[k]) for k in self.resumed)


def resume_demo(digits: Digits, folder, epochs: int = 4, interrupted_in: int = 3,
                seed: int = 0) -> ResumeDemo:
    """Train ``epochs`` epochs without a stop; then again, interrupted in the middle of epoch
    ``interrupted_in`` (the checkpoint holds the epochs before it) and resumed with
    ``resume=True`` by fresh objects; and once more from the checkpoint's weights only, with a
    new optimizer, schedule and loader (what a file of weights alone allows)."""
    folder = Path(folder)
    steps = len(digits.train_batches(64, seed=seed))
    uninterrupted = _weights(_checkpointed_run(digits, epochs, None, seed=seed))
    path = folder / "run.pt"
    try:
        _checkpointed_run(digits, epochs, path, interrupt_at=(interrupted_in - 1) * steps
                          + steps // 2, seed=seed)
    except Interrupted:
        pass
    saved = torch.load(path, weights_only=True)
    resumed = _weights(_checkpointed_run(digits, epochs, path, resume=True, seed=seed))

    model = digits_mlp(seed=seed)
    model.load_state_dict(saved["model"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    fit(model, digits.train_batches(64, seed=seed), optimizer, epochs=epochs - saved["epoch"],
        scheduler=scheduler, progress=False)
    return ResumeDemo(epochs, interrupted_in, saved["epoch"], uninterrupted, resumed,
                      _weights(model))


# --- data parallelism, simulated in one process ------------------------------------------------

def shards(x: Tensor, y: Tensor, workers: int) -> list[tuple[Tensor, Tensor]]:
    """The global batch ``(x, y)`` of ``B`` examples dealt to ``workers`` workers: consecutive
    shards of ``b = B / W`` examples each (``B`` must be a multiple of ``W``)."""
    if len(x) % workers:
        raise ValueError(f"a batch of {len(x)} does not split into {workers} equal shards")
    return list(zip(x.chunk(workers), y.chunk(workers), strict=True))


def flat_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """The gradient of the mean cross-entropy over ``(x, y)`` with respect to every parameter
    of ``model``, as one vector (the model's gradients are cleared afterwards)."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    gradient = torch.cat([p.grad.flatten() for p in model.parameters()])
    model.zero_grad()
    return gradient


def worker_gradients(model: nn.Module, x: Tensor, y: Tensor, workers: int) -> list[Tensor]:
    """What each of ``workers`` replicas of ``model`` computes on its shard of the global batch
    before the all-reduce: ``grad L_r``, the gradient of the mean loss over its ``b`` examples."""
    return [flat_gradient(model, xs, ys) for xs, ys in shards(x, y, workers)]


class WorkerBatchNorm(nn.BatchNorm1d):
    """Batch norm over a global batch of ``B`` rows as ``workers`` data-parallel workers compute
    it, each on its ``b = B / W`` rows (training mode; shape ``(B, C)``).

    ``sync=False`` (``nn.BatchNorm1d`` under DDP): every worker normalizes its rows with the
    mean and variance of those ``b`` rows alone. ``sync=True`` (``nn.SyncBatchNorm``): every
    worker normalizes with the mean and (biased) variance of all ``B`` rows. SyncBatchNorm gets
    them from each worker's count, mean and inverse standard deviation, exchanged with one
    all-gather in the forward pass; this simulation computes the same statistics from the
    workers' counts ``n_r``, sums ``S1_r`` and sums of squares ``S2_r``::

        mean = sum_r S1_r / sum_r n_r,   var = sum_r S2_r / sum_r n_r - mean^2

    Autograd then carries the gradient through the shared statistics, as SyncBatchNorm's
    backward does with one all-reduce. Running statistics are not kept.
    """

    def __init__(self, num_features: int, workers: int = 1, sync: bool = False, eps=1e-5):
        super().__init__(num_features, eps=eps, track_running_stats=False)
        self.workers, self.sync = workers, sync

    def forward(self, x: Tensor) -> Tensor:
        parts = x.chunk(self.workers)
        if self.sync:
            count = sum(len(part) for part in parts)
            mean = sum(part.sum(dim=0) for part in parts) / count
            var = sum(part.pow(2).sum(dim=0) for part in parts) / count - mean**2
            stats = [(mean, var)] * len(parts)
        else:
            stats = [(part.mean(dim=0), part.var(dim=0, correction=0)) for part in parts]
        out = [(part - m) / torch.sqrt(v + self.eps) for part, (m, v) in zip(parts, stats,
                                                                           strict=True)]
        return torch.cat(out) * self.weight + self.bias


def bn_mlp(workers: int = 1, sync: bool = False, hidden: int = 32, seed: int = 0) -> nn.Sequential:
    """``Flatten, Linear(64, hidden), WorkerBatchNorm, ReLU, Linear(hidden, 10)`` in float64; the
    same seed gives the same weights whatever ``workers`` and ``sync`` are."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden),
                         WorkerBatchNorm(hidden, workers, sync), nn.ReLU(),
                         nn.Linear(hidden, 10)).double()


def relative_difference(a: Tensor, b: Tensor) -> float:
    """``||a - b|| / ||b||``."""
    return float((a - b).norm() / b.norm())


def shard_mean_spread(values: Tensor, per_worker: list[int], draws: int = 200,
                      seed: int = 0) -> list[float]:
    """For each per-worker batch ``b``: the standard deviation of the mean of ``b`` values drawn
    without replacement from ``values`` over ``draws`` draws: how far one worker's batch mean
    strays from the mean of the data. About ``std(values) / sqrt(b)`` when ``b`` is small next
    to ``len(values)``."""
    generator = torch.Generator().manual_seed(seed)
    spreads = []
    for b in per_worker:
        means = torch.stack([values[torch.randperm(len(values), generator=generator)[:b]].mean()
                             for _ in range(draws)])
        spreads.append(float(means.std()))
    return spreads


# --- the linear scaling rule -------------------------------------------------------------------

def goyal_lr(epoch: float, batch: int, base_lr: float = 0.1, base_batch: int = 256,
             warmup_epochs: float = 5, milestones=(30, 60, 80), gamma: float = 0.1) -> float:
    """The ImageNet schedule of Goyal et al. (2017) for ResNet-50 trained 90 epochs: ``0.1`` per
    256 images, scaled linearly to the global batch, warmed up over 5 epochs, divided by 10 at
    epochs 30, 60 and 80. For ``batch = 8192``: from 0.1 up to 3.2."""
    decays = sum(epoch >= m for m in milestones)
    return scaled_lr(epoch, base_lr, base_batch, batch, warmup_epochs) * gamma**decays


@dataclass
class ScalingRun:
    """One run of ``scaling_runs``: global batch, learning rate, and what ``fit`` recorded."""

    batch: int
    lr: float
    history: History

    @property
    def steps_per_epoch(self) -> int:
        return len(self.history.step_loss) // max(self.history.epochs, 1)


def scaling_runs(digits: Digits, runs=((16, 0.01), (128, 0.01), (128, 0.08)), epochs: int = 4,
                 seed: int = 0) -> list[ScalingRun]:
    """Lecture 07's MLP trained with plain SGD (no momentum, our choice: the rule's argument is
    cleanest there) for ``epochs`` epochs for each ``(batch, lr)``; same initialization and
    seed. The default: a batch of 16, a batch 8 times larger with the same rate, and with the
    rate scaled by 8."""
    results = []
    for batch, lr in runs:
        model = digits_mlp(seed=seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        history = fit(model, digits.train_batches(batch, seed=seed), optimizer, epochs=epochs,
                      val_data=digits.val_batches(), progress=False)
        results.append(ScalingRun(batch, lr, history))
    return results


# --- a real data-parallel run: tools/ddp_train.py under torchrun ------------------------------

DDP_ARGS = ("--data", "digits", "--limit", "400", "--batch-size", "40", "--epochs", "2",
            "--dtype", "float64", "--device", "cpu")
"""400 digits (280 for training), a global batch of 40, 2 epochs, float64 on the CPU: the run
that ``tests/unit/test_distributed.py`` checks as well."""


@dataclass(frozen=True)
class DDPRun:
    """What ``tools/ddp_train.py`` left in its checkpoint after a run on ``processes`` processes."""

    processes: int
    global_batch: int
    step_losses: tuple[float, ...]
    val_acc: float

    @property
    def per_process_batch(self) -> int:
        return self.global_batch // self.processes


@dataclass(frozen=True)
class DDPComparison:
    """One process against two with the same global batch; ``max_weight_difference`` is the
    largest ``|w_2 - w_1|`` over all final weights."""

    command: str
    one: DDPRun
    two: DDPRun
    max_weight_difference: float


def ddp_script() -> Path:
    """``tools/ddp_train.py`` of the repository this ``course_lib`` comes from."""
    return Path(__file__).resolve().parents[2] / "tools" / "ddp_train.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compare_ddp(folder, args=DDP_ARGS, timeout: float = 300) -> DDPComparison:
    """Run ``tools/ddp_train.py`` once as one process and once under
    ``torchrun --nproc_per_node 2`` (gloo over the loopback), then compare the checkpoints.

    Starting three Python processes with torch takes longer than the notebook's whole quick
    profile on 2 cores, so the quick profile shows ``RECORDED_DDP``, recorded by this function.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1",
           "TQDM_DISABLE": "1"}
    one, two = folder / "one.pt", folder / "two.pt"
    subprocess.run([sys.executable, str(ddp_script()), *args, "--checkpoint", str(one)],
                   cwd=folder, env=env, check=True, capture_output=True, timeout=timeout)
    torchrun = ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--max_restarts", "0"]
    for attempt in range(2):  # another process may take the free port in between
        result = subprocess.run([sys.executable, *torchrun, "--master_port", str(_free_port()),
                                 str(ddp_script()), *args, "--checkpoint", str(two)],
                                cwd=folder, env=env, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode == 0 or attempt == 1:
            result.check_returncode()
            break
    states = [torch.load(path, weights_only=True) for path in (one, two)]
    runs = [DDPRun(processes, int(args[list(args).index("--batch-size") + 1]),
                   tuple(state["history"]["step_loss"]), state["history"]["val_acc"][-1])
            for processes, state in zip((1, 2), states, strict=True)]
    difference = max(float((states[0]["model"][k] - states[1]["model"][k]).abs().max())
                     for k in states[0]["model"])
    command = ("torchrun --nproc_per_node 2 tools/ddp_train.py " + " ".join(args))
    return DDPComparison(command, runs[0], runs[1], difference)


RECORDED_DDP = DDPComparison(
    command="torchrun --nproc_per_node 2 tools/ddp_train.py " + " ".join(DDP_ARGS),
    one=DDPRun(1, 40, (
        2.3074469614899833, 2.295637048810897, 2.3218574891987407, 2.3089148984799026,
        2.2892672138051724, 2.2802031881498843, 2.212242347769365, 2.2051559072085753,
        2.2142069597952023, 2.205396574797995, 2.1214341669398857, 2.1438730413989076,
        2.1189763672601525, 2.1682391227666136), 0.18333333333333332),
    two=DDPRun(2, 40, (
        2.307446961489983, 2.295637048810897, 2.3218574891987402, 2.3089148984799026,
        2.2892672138051724, 2.2802031881498848, 2.2122423477693642, 2.205155907208576,
        2.214206959795203, 2.2053965747979944, 2.1214341669398857, 2.1438730413989076,
        2.118976367260153, 2.1682391227666136), 0.18333333333333332),
    max_weight_difference=4.163336342344337e-17,
)
"""``compare_ddp()`` as it ran on 2 CPU cores (torch 2.14.1): the quick profile's record.
``tests/claims/test_lecture11_claims.py`` checks it against a fresh one-process run."""


# --- throughput ----------------------------------------------------------------------------

@dataclass
class Throughput:
    """Wall time of each training step; the first ``warmup`` are not counted."""

    batch_size: int
    step_seconds: list[float]
    warmup: int

    @property
    def median_seconds(self) -> float:
        """The median time of a step after the warm-up."""
        return statistics.median(self.step_seconds[self.warmup:])

    @property
    def samples_per_second(self) -> float:
        """``batch_size / median_seconds``."""
        return self.batch_size / self.median_seconds


def small_convnet() -> nn.Module:
    """LeNet-5 for 3 x 32 x 32 images (62 006 parameters), the convnet of the CPU runs."""
    return models.LeNet(num_classes=10, in_channels=3, image_size=32)


def measure_throughput(make_model, batch_size: int, steps: int, warmup: int, device="cpu",
                       amp=False, channels_last=False, image_shape=(3, 32, 32),
                       seed: int = 0) -> Throughput:
    """Time ``steps`` SGD steps (momentum 0.9) of ``make_model()`` on one random batch of
    ``batch_size`` images held on ``device``, with ``amp`` and ``channels_last`` applied as
    ``fit`` applies them.

    A CUDA kernel runs after the Python call that launched it has returned, so on a GPU each
    step's clock is read after ``torch.cuda.synchronize``: the time of the work, not of its
    launch. The first ``warmup`` steps (memory allocation, cuDNN's choice of kernels, caches)
    are timed but left out of ``samples_per_second``.
    """
    device = torch.device(device)
    torch.manual_seed(seed)
    model = make_model().to(device)
    runner = Runner.build(model, device, amp, channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = runner.batch(torch.randn(batch_size, *image_shape), torch.randint(0, 10, (batch_size,)))
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with runner.autocast():
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    return Throughput(batch_size, seconds, warmup)


# --- the loss-scale explorer -----------------------------------------------------------------

def loss_scale_figure(values: Tensor, log2_scale: float, dtype: torch.dtype = torch.float16,
                      lang: str | None = None):
    """Histogram of ``log2 |value * 2^log2_scale|`` over the nonzero ``values``, with the range
    of ``dtype``: up to half its smallest subnormal a value becomes 0, from ``inf_from`` (just
    above its max) inf. The title gives both shares (``cast_outcome``). Returns the Figure."""
    fmt = number_format(dtype)
    values = values[values != 0].double().abs()
    scale = 2.0**log2_scale
    exponents = torch.log2(values * scale)
    outcome = cast_outcome(values, dtype, scale)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    low, high = math.log2(fmt.zero_below), math.log2(fmt.inf_from)
    ax.axvspan(min(float(exponents.min()), low) - 2, low, color="C3", alpha=0.15,
               label=t("lecture11.zone_zero", lang=lang))
    ax.axvspan(high, max(float(exponents.max()), high) + 2, color="C1", alpha=0.2,
               label=t("lecture11.zone_inf", lang=lang))
    ax.axvline(math.log2(fmt.smallest_normal), color="gray", ls="--",
               label=t("lecture11.smallest_normal", lang=lang))
    weights = torch.full_like(exponents, 1.0 / len(exponents))
    ax.hist(exponents.numpy(), bins=60, weights=weights.numpy(), color="C0")
    ax.set_xlabel(t("lecture11.log2_value", lang=lang))
    ax.set_ylabel(t("lecture11.share_of_values", lang=lang))
    ax.set_title(t("lecture11.scale_title", lang=lang, format=fmt.name, log2_scale=log2_scale,
                   zero=outcome.zero, inf=outcome.inf), fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
