"""Exercises of lecture 11 (training at scale): the linear scaling rule with warm-up, and the
dynamic loss scale of mixed precision.

``scaled_lr`` also draws the lecture's ImageNet schedule (``course_lib.lectures.scale.goyal_lr``);
``update_scale`` is tested against ``torch.amp.GradScaler``. Hints live in the ``lecture11``
locale domain.
"""

from __future__ import annotations

from ..checks import exercise


def _scaled_lr_cases(gen):
    return [
        {"step": 0, "base_lr": 0.1, "base_batch": 256, "batch": 8192, "warmup_steps": 5},
        {"step": 2.5, "base_lr": 0.1, "base_batch": 256, "batch": 8192, "warmup_steps": 5},
        {"step": 5, "base_lr": 0.1, "base_batch": 256, "batch": 8192, "warmup_steps": 5},
        {"step": 40, "base_lr": 0.01, "base_batch": 16, "batch": 128, "warmup_steps": 10},
        {"step": 3, "base_lr": 0.05, "base_batch": 64, "batch": 32, "warmup_steps": 0},
        {"step": 7, "base_lr": 0.2, "base_batch": 128, "batch": 1024, "warmup_steps": 20},
    ]


@exercise("scaled_lr", cases=_scaled_lr_cases, outputs=("lr",), atol=1e-12, rtol=1e-9,
          hint="lecture11.hint_scaled_lr")
def scaled_lr(step: float, base_lr: float, base_batch: int, batch: int,
              warmup_steps: float = 0) -> float:
    """The learning rate at ``step`` by the linear scaling rule with gradual warm-up (Goyal et
    al. 2017): the target ``base_lr * batch / base_batch``, reached by a straight line from
    ``base_lr`` over the first ``warmup_steps`` steps::

        lr(t) = base_lr + (target - base_lr) * t / warmup_steps   for t < warmup_steps
        lr(t) = target                                            afterwards
    """
    target = base_lr * batch / base_batch
    if step < warmup_steps:
        return base_lr + (target - base_lr) * step / warmup_steps
    return target


def _update_scale_cases(gen):
    return [
        {"loss_scale": 65536.0, "found_inf": True, "good_steps": 5, "growth_interval": 2000},
        {"loss_scale": 65536.0, "found_inf": False, "good_steps": 5, "growth_interval": 2000},
        {"loss_scale": 1024.0, "found_inf": False, "good_steps": 1999, "growth_interval": 2000},
        {"loss_scale": 8.0, "found_inf": False, "good_steps": 0, "growth_interval": 1},
        {"loss_scale": 32768.0, "found_inf": True, "good_steps": 0, "growth_interval": 3},
    ]


@exercise("update_scale", cases=_update_scale_cases, outputs=("loss_scale", "good_steps"),
          atol=0.0, rtol=0.0, hint="lecture11.hint_update_scale")
def update_scale(loss_scale: float, found_inf: bool, good_steps: int,
                 growth_interval: int) -> tuple[float, int]:
    """One update of the dynamic loss scale, the rule of ``torch.amp.GradScaler``
    (``backoff_factor=0.5``, ``growth_factor=2``): after a step whose gradients held inf or
    NaN (the step was skipped) halve the scale and restart the count of good steps; after a
    good step count it, and when the count reaches ``growth_interval`` double the scale and
    restart the count. Returns ``(loss_scale, good_steps)``."""
    if found_inf:
        return loss_scale * 0.5, 0
    good_steps += 1
    if good_steps == growth_interval:
        return loss_scale * 2.0, 0
    return loss_scale, good_steps
