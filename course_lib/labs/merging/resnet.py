"""Joining two ResNet teachers (``models.resnet20``, ``models.resnet18``) with L0 gates.

The layers are joined as in ``course_lib.labs.merging.joined`` (stem convolution stacked on the
shared input; every other convolution, the 1 x 1 downsample ones included, block diagonal; batch
norms concatenated; the fc layer averages the teachers' logits). Two kinds of gates:

- a **stream gate** per stage, ``(2 C_s,)`` channels: the residual stream of stage ``s`` (the
  stem's output for the first stage and the output of every block of the stage) is one set of
  channels added up by the identity skips, so one gate mask multiplies it after the stem and
  after every block of the stage, and pruning keeps the same channels all along the stage;
- a **block gate** inside every BasicBlock, after ``relu(bn1(conv1(x)))``.

A block of stage ``s`` computes, with the stream gate ``g_s`` and its block gate ``h``::

    y = g_s * relu(bn2(conv2(h * relu(bn1(conv1(x))))) + skip(x))

Pruning keeps ``C_s`` stream channels per stage and half of each block's inner channels. A
downsample block's ``conv1`` and 1 x 1 ``downsample`` read the previous stage's kept channels and
write the current stage's. Block gates are folded into ``conv2``; stream gates cannot be (the
identity skip would need them too), so the pruned student equals the gated joined model
restricted to the kept channels when the stream gates of the kept channels are 1 (the test-time
gate saturates at 1 for ``log_alpha > 2.4``).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ...l0 import HardConcreteGate
from ...models import BasicBlock, ResNet
from .joined import (
    GatedModel,
    check_pair,
    join_batchnorm,
    join_layer,
    keep_indices,
    new_gate,
    take,
    take_batchnorm,
)


class JoinedBlock(nn.Module):
    """Two BasicBlocks joined, with the block gate ``gate``; the stream gate comes from the
    stage. Input ``(N, 2 C_in, H, W)``, output ``(N, 2 C_out, H / stride, W / stride)``."""

    def __init__(self, a: BasicBlock, b: BasicBlock):
        super().__init__()
        self.conv1 = join_layer(a.conv1, b.conv1, "hidden")
        self.bn1 = join_batchnorm(a.bn1, b.bn1)
        self.gate = new_gate(2 * a.conv1.out_channels)
        self.conv2 = join_layer(a.conv2, b.conv2, "hidden")
        self.bn2 = join_batchnorm(a.bn2, b.bn2)
        self.relu = nn.ReLU()
        self.downsample = None
        if a.downsample is not None:
            self.downsample = nn.Sequential(
                join_layer(a.downsample[0], b.downsample[0], "hidden"),
                join_batchnorm(a.downsample[1], b.downsample[1]),
            )

    def forward(self, x: Tensor, stream_gate: HardConcreteGate, use_gates: bool) -> Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        if use_gates:
            out = self.gate(out)
        out = self.relu(self.bn2(self.conv2(out)) + skip)
        return stream_gate(out) if use_gates else out

    @torch.no_grad()
    def prune_into(self, student: BasicBlock, keep_in: Tensor, keep_out: Tensor) -> None:
        """Load the kept channels into the teacher-shaped ``student`` block: ``keep_in`` of the
        stream entering the block, ``keep_out`` of the stream leaving it."""
        inner = keep_indices(self.gate, self.gate.num_features // 2)
        student.conv1.load_state_dict(take(self.conv1, inner, keep_in))
        student.bn1.load_state_dict(take_batchnorm(self.bn1, inner))
        student.conv2.load_state_dict(take(self.conv2, keep_out, inner, self.gate.gate()[inner]))
        student.bn2.load_state_dict(take_batchnorm(self.bn2, keep_out))
        if self.downsample is not None:
            student.downsample[0].load_state_dict(take(self.downsample[0], keep_out, keep_in))
            student.downsample[1].load_state_dict(take_batchnorm(self.downsample[1], keep_out))


class JoinedResNet(GatedModel):
    """Two ``models.ResNet`` teachers joined (stem, stages of ``JoinedBlock``, global average
    pooling, averaged fc). ``gates`` lists the stream gates of the stages first, then the block
    gates in forward order. Input and output as the teachers'."""

    def __init__(self, a: ResNet, b: ResNet):
        super().__init__()
        check_pair(a, b)
        self.template = copy.deepcopy(a)
        self.conv1 = join_layer(a.conv1, b.conv1, "first")
        self.bn1 = join_batchnorm(a.bn1, b.bn1)
        self.relu = nn.ReLU()
        self.maxpool = copy.deepcopy(a.maxpool)
        self.stages = nn.ModuleList(
            nn.ModuleList(JoinedBlock(ba, bb) for ba, bb in zip(sa, sb, strict=True))
            for sa, sb in zip(a.stages, b.stages, strict=True)
        )
        self.stream_gates = nn.ModuleList(
            new_gate(2 * stage[-1].conv2.out_channels) for stage in a.stages
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = join_layer(a.fc, b.fc, "last")
        self.gates = nn.ModuleList(
            [*self.stream_gates, *(block.gate for stage in self.stages for block in stage)]
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self._gate(self.stream_gates[0], x)
        for stage, gate in zip(self.stages, self.stream_gates, strict=True):
            for block in stage:
                x = block(x, gate, self.use_gates)
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def point_gates(self) -> list[HardConcreteGate]:
        """Stem ReLU: the first stream gate; every block: its block gate, then its stage's
        stream gate (the block's two ReLU calls)."""
        points = [self.stream_gates[0]]
        for stage, gate in zip(self.stages, self.stream_gates, strict=True):
            for block in stage:
                points += [block.gate, gate]
        return points

    @torch.no_grad()
    def prune(self) -> ResNet:
        """The teacher-shaped ResNet keeping the top half of every stream and block gate."""
        streams = [keep_indices(g, g.num_features // 2) for g in self.stream_gates]
        student = copy.deepcopy(self.template)
        student.conv1.load_state_dict(take(self.conv1, streams[0], None))
        student.bn1.load_state_dict(take_batchnorm(self.bn1, streams[0]))
        keep_in = streams[0]
        for joined, target, keep_out in zip(self.stages, student.stages, streams, strict=True):
            for joined_block, target_block in zip(joined, target, strict=True):
                joined_block.prune_into(target_block, keep_in, keep_out)
                keep_in = keep_out
        student.fc.load_state_dict(take(self.fc, None, streams[-1]))
        return student
