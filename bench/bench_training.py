"""Training throughput: course_lib's fit against a minimal hand-written PyTorch loop.

Both sides train a copy of the same model on equal DataLoaders with the same optimizer (SGD,
momentum 0.9) and the same GPU practices that ``fit`` picks by default on the device (mixed
precision and channels_last on CUDA, neither on the CPU); ``fit`` also records its history
(losses, learning rates, gradient norms, accuracy). Epochs of the two alternate, so a busy
machine slows both alike. The samples/s columns come from the best epoch of each side; the
ratio ``fit samples/s / loop samples/s`` (target >= 0.9) is the median over the rounds of
the ratio within a round, two back-to-back epochs under the same load.

Peak memory of one epoch: on CUDA ``torch.cuda.max_memory_allocated``; on the CPU the peak
resident set size of a fresh process that runs one epoch of that side (``ru_maxrss``; torch's
own libraries make most of it) and the peak of Python allocations (``tracemalloc``, where the
history lives).

How much of the hardware ``fit`` uses: ``TFLOP/s = fit samples/s * FLOPs per sample`` (one
training step's matrix products and convolutions, ``execution.training_flops``), and on CUDA
its fraction of the GPU's dense bfloat16 tensor-core peak (``BF16_PEAK_TFLOPS``, by device name).

``python -m bench training --compile off,reduce-overhead`` measures each listed mode of
``torch.compile`` (``execution.COMPILE_MODES``; ``off``: eager, the default), both sides
compiled alike; ``--rounds N`` sets the number of alternating rounds, ``--model resnet20``
keeps one case.
"""

from __future__ import annotations

import copy
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from course_lib import data, models
from course_lib.execution import amp_dtype, compiled, training_flops, use_channels_last
from course_lib.training import fit

ROUNDS = 10  # best of 10 alternating epochs: the CPU is shared, the minimum is the least disturbed

BF16_PEAK_TFLOPS = {
    "H200 NVL": 835, "H200": 989, "GH200": 989, "H100 NVL": 835, "H100 PCIe": 756, "H100": 989,
    "B200": 2250, "A100": 312, "L40S": 362, "L40": 181, "L4": 121, "A10": 125,
    "RTX 4090": 165,
}
"""Dense (no sparsity) bfloat16 tensor-core TFLOP/s from NVIDIA's data sheets, by a part of
the device name; the longest matching key wins (``H100 PCIe`` before ``H100``)."""


def bf16_peak(name: str) -> float | None:
    """FLOP/s of ``BF16_PEAK_TFLOPS`` for the CUDA device called ``name``, None if unknown."""
    keys = sorted((key for key in BF16_PEAK_TFLOPS if key in name), key=len, reverse=True)
    return BF16_PEAK_TFLOPS[keys[0]] * 1e12 if keys else None


@dataclass
class Case:
    """A model (``resnet20`` or ``lenet``) trained on ``examples`` in batches of ``batch_size``."""

    name: str
    model: str
    batch_size: int
    examples: int


def cases(device: torch.device) -> list[Case]:
    gpu = device.type == "cuda"
    return [
        Case("ResNet-20, CIFAR-shaped random tensors", "resnet20", 256 if gpu else 32,
             20480 if gpu else 256),
        Case("LeNet, MNIST sample", "lenet", 256 if gpu else 64, 5000 if gpu else 1024),
    ]


def build(case: Case, device: torch.device, seed: int = 0):
    """(model, dataset) of ``case``, the model on ``device``."""
    torch.manual_seed(seed)
    if case.model == "resnet20":
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(case.examples, 3, 32, 32, generator=gen)
        y = torch.randint(0, 10, (case.examples,), generator=gen)
        model = models.resnet20()
    else:
        x, y = data.mnist_sample()
        x, y = x[: case.examples], y[: case.examples]
        model = models.LeNet()
    return model.to(device), TensorDataset(x, y)


def loader(dataset: TensorDataset, case: Case, device: torch.device):
    """Batches in a fixed order (the speed does not depend on it, and both sides then train
    identically, which the tests check); pinned memory on CUDA."""
    return DataLoader(dataset, batch_size=case.batch_size, pin_memory=device.type == "cuda")


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def compile_option(mode: str):
    """``fit``'s ``compile`` argument for a mode name: ``off`` is False."""
    return False if mode == "off" else mode


def hand_loop(model, loader, optimizer, device, dtype, channels_last) -> None:
    """One epoch of the textbook loop, with autocast and loss scaling as in PyTorch's recipe."""
    model.train()
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    fmt = torch.channels_last if channels_last else torch.preserve_format
    for x, y in loader:
        x = x.to(device, non_blocking=True, memory_format=fmt)
        y = y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def sides(case: Case, device: torch.device,
          mode: str = "off") -> dict[str, tuple[torch.nn.Module, Callable]]:
    """``{"fit": (model, epoch), "loop": (model, epoch)}``: equal copies of the model, each
    trained one epoch per ``epoch()`` call on its own loader, both loaders shuffling alike;
    both through ``torch.compile`` in ``mode`` unless it is ``off``."""
    model, dataset = build(case, device)
    twin = copy.deepcopy(model)
    dtype = amp_dtype("auto", device)
    nhwc = use_channels_last("auto", twin, device)
    twin.to(memory_format=torch.channels_last if nhwc else torch.contiguous_format)
    fit_data, loop_data = loader(dataset, case, device), loader(dataset, case, device)
    fit_opt, loop_opt = sgd(model), sgd(twin)
    option = compile_option(mode)
    net = compiled(twin, option, None)
    return {
        "fit": (model, lambda: fit(model, fit_data, fit_opt, epochs=1, progress=False,
                                   compile=option)),
        "loop": (twin, lambda: hand_loop(net, loop_data, loop_opt, device, dtype, nhwc)),
    }


def timed(epoch, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    epoch()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def python_peak(epoch) -> int:
    """Peak bytes of Python allocations during ``epoch()``."""
    tracemalloc.start()
    epoch()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def peak_memory(case: Case, side: str, device: torch.device) -> int:
    """Bytes: CUDA memory allocated at the peak, or peak RSS of a fresh process (CPU)."""
    if device.type == "cuda":
        epoch = sides(case, device)[side][1]
        epoch()  # warm-up: cuDNN workspaces and the optimizer state exist from here on
        torch.cuda.reset_peak_memory_stats(device)
        epoch()
        return torch.cuda.max_memory_allocated(device)
    out = subprocess.run([sys.executable, "-m", "bench.bench_training", case.model, side],
                         capture_output=True, text=True, check=True, timeout=600)
    return int(out.stdout.split()[-1])


@dataclass
class Throughput:
    """Best epoch times, median ratio ``fit samples/s / loop samples/s``, peak memory (bytes;
    0: not measured), FLOPs of one training sample, the compile mode and the device's bf16 peak
    (FLOP/s, None if unknown or not CUDA)."""

    case: Case
    fit_s: float
    loop_s: float
    ratio: float
    fit_peak: int
    loop_peak: int
    fit_python: int
    loop_python: int
    flops_per_sample: float = 0.0
    mode: str = "off"
    peak_flops: float | None = None

    @property
    def tflops(self) -> float:
        """TFLOP/s that ``fit`` achieves."""
        return self.case.examples / self.fit_s * self.flops_per_sample / 1e12


def flops_per_sample(case: Case, device: torch.device) -> float:
    model, dataset = build(case, device)
    x = dataset.tensors[0][:2]
    return training_flops(model, x) / len(x)


def measure(case: Case, device: torch.device, rounds: int = ROUNDS,
            mode: str = "off") -> Throughput:
    epochs = {side: epoch for side, (_, epoch) in sides(case, device, mode).items()}
    for epoch in epochs.values():
        epoch()  # warm-up (and compilation)
    times = {"fit": [], "loop": []}
    for r in range(rounds):
        order = ("fit", "loop") if r % 2 == 0 else ("loop", "fit")
        for side in order:
            times[side].append(timed(epochs[side], device))
    ratios = sorted(loop / fit for fit, loop in zip(times["fit"], times["loop"], strict=True))
    # Memory in eager mode only: another compilation would cost more than it tells.
    memory = [peak_memory(case, side, device) if mode == "off" else 0 for side in ("fit", "loop")]
    peak = bf16_peak(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    return Throughput(case, min(times["fit"]), min(times["loop"]), statistics.median(ratios),
                      *memory, python_peak(epochs["fit"]), python_peak(epochs["loop"]),
                      flops_per_sample(case, device), mode, peak)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def run(compile: str = "off", rounds: int | str = ROUNDS,
        model: str = "resnet20,lenet") -> list[Throughput]:
    """The cases of the comma-separated ``model`` names in every mode of the comma-separated
    ``compile`` (``off``: eager)."""
    dev = device()
    return [measure(case, dev, int(rounds), mode) for mode in compile.split(",")
            for case in cases(dev) if case.model in model.split(",")]


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.0f}" if n else "-"


def print_table(title: str, rows: list[Throughput]) -> None:
    dev = device()
    memory = "CUDA max allocated" if dev.type == "cuda" else "peak RSS of a process"
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"\n{title} ({name}; memory: {memory}, Python heap: tracemalloc)")
    print(f"{'case':<40}{'compile':>16}{'batch':>6}{'fit [1/s]':>11}{'loop [1/s]':>11}"
          f"{'fit/loop':>9}{'TFLOP/s':>9}{'of peak':>8}{'fit [MB]':>10}{'loop [MB]':>10}"
          f"{'fit py [kB]':>12}{'loop py [kB]':>13}")
    for r in rows:
        n = r.case.examples
        share = f"{r.tflops * 1e12 / r.peak_flops:.2%}" if r.peak_flops else "-"
        print(f"{r.case.name:<40}{r.mode:>16}{r.case.batch_size:>6}{n / r.fit_s:>11.0f}"
              f"{n / r.loop_s:>11.0f}{r.ratio:>9.2f}{r.tflops:>9.3f}{share:>8}"
              f"{_megabytes(r.fit_peak):>10}{_megabytes(r.loop_peak):>10}"
              f"{r.fit_python / 2**10:>12.0f}{r.loop_python / 2**10:>13.0f}")


def _peak_rss_of_one_epoch(model: str, side: str) -> int:
    """Run in a fresh process by ``peak_memory``: one epoch, then the peak RSS in bytes."""
    dev = device()
    case = next(c for c in cases(dev) if c.model == model)
    sides(case, dev)[side][1]()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


if __name__ == "__main__":
    print(_peak_rss_of_one_epoch(*sys.argv[1:3]))
