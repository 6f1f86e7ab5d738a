"""How batches reach a model on a device: mixed precision, memory format, compilation.

The practices a GPU user expects, each switchable, resolved once per ``fit`` / ``evaluate``:

- ``amp``: the forward pass under ``torch.autocast`` in bfloat16, or float16 (with loss scaling
  in ``fit``) where the GPU lacks bfloat16;
- ``channels_last``: NHWC memory format for convolutional nets, which cuDNN's tensor-core
  kernels read without transposing;
- ``non_blocking`` copies, asynchronous when the loader pins its memory
  (``Splits.loaders(pin_memory="auto")``);
- ``compile``: ``torch.compile`` on request, with CUDA graphs in ``"reduce-overhead"`` mode.

``"auto"`` turns a practice on for CUDA only; on the CPU they do not help.

Tiny models are the exception to "the GPU is faster": ``pick_device`` chooses the CPU when a
training step is too small to pay for the GPU's launches (``training_flops`` counts its work).
"""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .i18n import CourseError

AMP_DTYPES = (torch.bfloat16, torch.float16)


def amp_dtype(amp, device: torch.device, lang: str | None = None) -> torch.dtype | None:
    """The dtype of the mixed-precision forward pass (``torch.autocast``), or None for float32.

    ``amp="auto"``: on CUDA bfloat16 where the GPU has it (Ampere and newer), else float16; on
    other devices None. ``True``: the same on CUDA, bfloat16 elsewhere. ``False`` or ``None``:
    None. ``torch.bfloat16`` or ``torch.float16``: that dtype. bfloat16 keeps float32's 8-bit
    exponent, so gradients do not underflow; float16 (5-bit exponent) needs loss scaling, which
    ``fit`` does with ``torch.amp.GradScaler``.
    """
    if amp is None or amp is False or (amp == "auto" and device.type != "cuda"):
        return None
    if amp is True or amp == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16
    if amp in AMP_DTYPES:
        return amp
    raise CourseError("training.bad_amp", lang=lang, value=amp)


def use_channels_last(channels_last, model: nn.Module, device: torch.device,
                      lang: str | None = None) -> bool:
    """Whether 4-D tensors go in ``torch.channels_last`` (NHWC) memory format.

    ``"auto"``: on CUDA for a model with ``nn.Conv2d`` layers (cuDNN's tensor-core kernels read
    NHWC without transposing), else not; ``True`` or ``False``: as given.
    """
    if channels_last == "auto":
        return device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules())
    if isinstance(channels_last, bool):
        return channels_last
    raise CourseError("training.bad_channels_last", lang=lang, value=channels_last)


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""torch.compile's modes; ``"reduce-overhead"`` and ``"max-autotune"`` replay CUDA graphs."""


class GraphSteps(nn.Module):
    """A compiled module that replays CUDA graphs: every call starts a new step
    (``torch.compiler.cudagraph_mark_step_begin``), so the graphs may reuse the memory of the
    previous step's outputs, which ``fit`` has read by then."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *args, **kwargs):
        torch.compiler.cudagraph_mark_step_begin()
        return self.net(*args, **kwargs)


def compiled(net: nn.Module, compile, lang: str | None) -> nn.Module:
    """``net`` through ``torch.compile``: ``compile=True`` (default mode), a mode of
    ``COMPILE_MODES`` or a dict of options such as ``{"mode": "max-autotune"}``; ``False`` or
    None: ``net`` itself.

    ``"reduce-overhead"`` records the compiled forward and backward passes as CUDA graphs and
    replays each with one launch instead of one per kernel: the cost that small convnets on a
    large GPU wait on (on the CPU it is the default mode). Such a module is wrapped in
    ``GraphSteps``. The first steps pay for compiling and recording.
    """
    if compile is False or compile is None:
        return net
    if compile is True:
        compile = {}
    elif compile in COMPILE_MODES:
        compile = {"mode": compile}
    elif not isinstance(compile, dict):
        raise CourseError("training.bad_compile", lang=lang, value=compile)
    net = torch.compile(net, **compile)
    graphs = compile.get("mode") in ("reduce-overhead", "max-autotune")
    return GraphSteps(net) if graphs else net


def training_flops(model: nn.Module, example: torch.Tensor) -> float:
    """Floating-point operations of one training step of ``model`` on the batch ``example``
    (forward and backward), as ``torch.utils.flop_counter.FlopCounterMode`` counts them:
    matrix products and convolutions, 2 per multiply-add; elementwise work is left out. The
    step runs on a copy on the meta device, so nothing is computed and the model is untouched.
    E.g. ResNet-20 on a 3x32x32 image: about 2.4e8 per image.
    """
    net = copy.deepcopy(model).to("meta")
    with FlopCounterMode(display=False) as counter:
        net(example.to("meta")).float().sum().backward()
    return float(counter.get_total_flops())


CPU_FLOPS_PER_THREAD = 5e9
"""Ours: float32 FLOP/s that one CPU thread sustains on the small matrices of tiny models."""
GPU_STEP_SECONDS = 1e-3
"""Ours: the least a CUDA training step costs, however small the model (kernel launches of
forward, backward and the optimizer, and the Python that issues them)."""


def pick_device(model: nn.Module, example: torch.Tensor, runs: int = 1,
                device=None) -> torch.device:
    """The device on which ``runs`` copies of ``model`` (trained together, see
    ``course_lib.stacked``) train fastest on batches like ``example``.

    ``device`` (default: CUDA where available, else the CPU), except that the CPU is chosen when
    a step is so small that the CPU finishes it before the GPU's fixed cost is paid::

        runs * training_flops(model, example) < CPU_FLOPS_PER_THREAD * threads * GPU_STEP_SECONDS

    with ``threads = torch.get_num_threads()``. The constants are ours, to be calibrated with
    ``python -m bench stacked`` on the GPU; e.g. with 2 threads the 1-100-1 regressor of lab 10
    (batches of 64, 45 runs: 2.9e6 FLOPs) goes to the CPU and LeNet (batches of 64: 1.4e8) to
    the GPU.
    """
    device = torch.device(device if device is not None else
                          "cuda" if torch.cuda.is_available() else "cpu")
    budget = CPU_FLOPS_PER_THREAD * torch.get_num_threads() * GPU_STEP_SECONDS
    if device.type != "cpu" and runs * training_flops(model, example) < budget:
        return torch.device("cpu")
    return device


@dataclass
class Runner:
    """How batches reach the model: device, memory format, autocast dtype, the module called,
    and the language of the messages about them.

    ``net`` is the model as called: the model itself, or wrapped in DistributedDataParallel
    and/or compiled; its parameters are the model's.
    """

    net: nn.Module
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool
    lang: str | None = None

    @classmethod
    def build(cls, model: nn.Module, device: torch.device, amp, channels_last,
              lang: str | None = None) -> Runner:
        """Resolve ``amp`` and ``channels_last`` (converting the model's parameters)."""
        nhwc = use_channels_last(channels_last, model, device, lang)
        if nhwc:
            model.to(memory_format=torch.channels_last)
        return cls(net=model, device=device, dtype=amp_dtype(amp, device, lang),
                   channels_last=nhwc, lang=lang)

    def batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``, ``y`` on the device; asynchronous when they come from pinned memory."""
        nhwc = self.channels_last and x.ndim == 4
        fmt = torch.channels_last if nhwc else torch.preserve_format
        return (x.to(self.device, non_blocking=True, memory_format=fmt),
                y.to(self.device, non_blocking=True))

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)
