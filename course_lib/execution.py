"""How batches reach a model on a device: mixed precision, memory format, compilation.

The practices a GPU user expects, each switchable, resolved once per ``fit`` / ``evaluate``:

- ``amp``: the forward pass under ``torch.autocast`` in bfloat16, or float16 (with loss scaling
  in ``fit``) where the GPU lacks bfloat16;
- ``channels_last``: NHWC memory format for convolutional nets, which cuDNN's tensor-core
  kernels read without transposing;
- ``non_blocking`` copies, asynchronous when the loader pins its memory
  (``Splits.loaders(pin_memory="auto")``);
- ``compile``: ``torch.compile`` on request.

``"auto"`` turns a practice on for CUDA only; on the CPU they do not help.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

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


def compiled(net: nn.Module, compile, lang: str | None) -> nn.Module:
    """``torch.compile(net, **options)`` for ``compile=True`` or a dict of options."""
    if compile is False or compile is None:
        return net
    if compile is True:
        return torch.compile(net)
    if isinstance(compile, dict):
        return torch.compile(net, **compile)
    raise CourseError("training.bad_compile", lang=lang, value=compile)


@dataclass
class Runner:
    """How batches reach the model: device, memory format, autocast dtype, the module called.

    ``net`` is the model as called: the model itself, or wrapped in DistributedDataParallel
    and/or compiled; its parameters are the model's.
    """

    net: nn.Module
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def build(cls, model: nn.Module, device: torch.device, amp, channels_last,
              lang: str | None = None) -> Runner:
        """Resolve ``amp`` and ``channels_last`` (converting the model's parameters)."""
        nhwc = use_channels_last(channels_last, model, device, lang)
        if nhwc:
            model.to(memory_format=torch.channels_last)
        return cls(net=model, device=device, dtype=amp_dtype(amp, device, lang),
                   channels_last=nhwc)

    def batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``, ``y`` on the device; asynchronous when they come from pinned memory."""
        nhwc = self.channels_last and x.ndim == 4
        fmt = torch.channels_last if nhwc else torch.preserve_format
        return (x.to(self.device, non_blocking=True, memory_format=fmt),
                y.to(self.device, non_blocking=True))

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)
