"""Data-parallel training with torchrun: the scaling-out lab (README, "Scaling out").

One machine, 4 GPUs (or 4 CPU processes where there is no GPU)::

    torchrun --nproc_per_node 4 tools/ddp_train.py --data mnist --model lenet \\
        --batch-size 256 --lr 0.1 --epochs 5 --checkpoint runs/ddp.pt

Two machines (run the same command on each, ``--node_rank`` 0 and 1; the address is that of
node 0)::

    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --master_addr 10.0.0.1 \\
        --master_port 29500 tools/ddp_train.py --data mnist --model lenet --batch-size 1024

Without torchrun (``python tools/ddp_train.py ...``) the same script trains in one process
on the same sequence of global batches, which is what the test compares against.
``--batch-size`` is the global batch; each of the ``W`` processes takes ``batch-size / W``
examples per step. Rank 0 writes the checkpoint and prints the result.
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch.utils.data import TensorDataset

from course_lib import data, distributed, models
from course_lib.training import fit


def build_model(name: str, in_shape: tuple[int, ...], classes: int) -> torch.nn.Module:
    """``mlp`` (flatten, 64 hidden ReLU units), ``lenet`` (28 x 28) or ``resnet20`` (3 channels)."""
    if name == "lenet":
        return models.LeNet(num_classes=classes, in_channels=in_shape[0], image_size=in_shape[-1])
    if name == "resnet20":
        return models.resnet20(num_classes=classes, in_channels=in_shape[0])
    n_in = int(torch.tensor(in_shape).prod())
    return torch.nn.Sequential(torch.nn.Flatten(), models.mlp([n_in, 64, classes]))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits", choices=["digits", "mnist", "spirals",
                                                              "mnist1d"])
    parser.add_argument("--model", default="mlp", choices=["mlp", "lenet", "resnet20"])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--limit", type=int, default=None, help="use only this many examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu"],
                        help="auto: one GPU per process where CUDA is available")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--resume", action="store_true")
    return parser.parse_args(argv)


def train(args: argparse.Namespace):
    """Train as ``args`` say, in this process's share of the work; returns (model, history)."""
    device = distributed.setup(device=args.device)
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    splits = data.load(args.data, seed=args.seed, limit=args.limit)
    splits = data.Splits(*(TensorDataset(part.tensors[0].to(dtype), part.tensors[1])
                           for part in (splits.train, splits.val, splits.test)))
    train_loader, val_loader, _ = splits.loaders(args.batch_size, seed=args.seed,
                                                 distributed=True)
    x, y = splits.train.tensors
    model = build_model(args.model, tuple(x.shape[1:]), int(y.max()) + 1)
    model.to(device=device, dtype=dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    history = fit(model, train_loader, optimizer, epochs=args.epochs, val_data=val_loader,
                  checkpoint=args.checkpoint, resume=args.resume, device=device)
    return model, history


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        _, history = train(args)
        if distributed.is_main():
            print(f"{distributed.world_size()} process(es): train loss "
                  f"{history.train_loss[-1]:.4f}, val loss {history.val_loss[-1]:.4f}, "
                  f"val accuracy {history.val_acc[-1]:.4f}")
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
