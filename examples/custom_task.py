"""A new task as one class: classify where the head is turned (left, frontal, right), trained on synthetic faces.

The task owns its token count, head, label declaration, loss, metrics, flip rule, decoding and image-blind baseline;
nothing else in the package changes. The label ``turn`` is derived here from the synthetic faces' yaw.

    python examples/custom_task.py            # ~25 s of CPU: accuracy on unseen faces before and after training
    python examples/custom_task.py --steps 400 --size 96

With the defaults it printed ``0.406 before, 0.766 after 200 steps`` (chance: 0.33, the majority class 0.41).
"""

from __future__ import annotations

import argparse
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from facexformer import FaceXFormer
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.synthetic import SyntheticFaces
from facexformer.model.heads import TokenHead
from facexformer.tasks.base import Batch, Task
from facexformer.tasks.label import Label

TURN_NAMES = ("left", "frontal", "right")


# --8<-- [start:task]
class HeadTurn(Task):
    """Output (B, 3) logits: yaw below -``frontal`` degrees (0), within ±``frontal`` (1), above (2).

    Label ``turn`` (B,) int64. A horizontal mirror negates yaw, so it swaps classes 0 and 2.
    """

    name = "turn"
    labels = (Label("turn", "class"),)

    def __init__(self, frontal: float = 20.0, weight: float = 1.0):
        super().__init__(weight)
        self.frontal = frontal
        self.remember(frontal=frontal)

    def build_head(self, dim: int) -> nn.Module:
        return TokenHead(dim, (len(TURN_NAMES),))

    def build_loss(self) -> nn.Module:
        return nn.CrossEntropyLoss()

    def loss(self, criterion: nn.Module, output: torch.Tensor, batch: Batch) -> torch.Tensor:
        return criterion(output, batch["turn"].long())

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"accuracy": MulticlassAccuracy(len(TURN_NAMES), average="micro")})

    def flip(self, batch: Batch, flipped: torch.Tensor, width: int) -> None:
        swap = torch.tensor([2, 1, 0], device=flipped.device)
        batch["turn"][flipped] = swap[batch["turn"][flipped]]

    def trivial_output(self, batch: Batch) -> torch.Tensor:
        counts = torch.bincount(batch["turn"].long(), minlength=len(TURN_NAMES)).float()
        return torch.log(counts / counts.sum() + 1e-6)[None]

    def decode(self, output: torch.Tensor, size: int = 224) -> torch.Tensor:
        """Logits -> (B,) class ids (0 left, 1 frontal, 2 right)."""
        return output.argmax(-1)

    def label(self, yaw_degrees: float) -> int:
        """The class of a yaw angle in degrees."""
        return 0 if yaw_degrees < -self.frontal else 2 if yaw_degrees > self.frontal else 1


# --8<-- [end:task]


class WithTurn:
    """Sample transform: add the ``turn`` label (from the sample's yaw) and announce the task."""

    def __init__(self, task: HeadTurn):
        self.task = task

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = dict(sample)
        out["turn"] = torch.tensor(self.task.label(float(sample["headpose"][1])), dtype=torch.int64)
        out.pop("headpose")
        out["tasks"] = ("turn",)
        return out


def render(count: int, size: int, seed: int, task: HeadTurn) -> list[dict[str, Any]]:
    """``count`` synthetic faces with the ``turn`` label, rendered once (the list is a map-style dataset)."""
    faces = SyntheticFaces(count, size=size, seed=seed, tasks=["headpose"], transform=WithTurn(task))
    return [faces[i] for i in range(count)]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="training steps (default 200)")
    parser.add_argument("--size", type=int, default=64, help="face crop side in pixels (default 64)")
    parser.add_argument("--train-samples", type=int, default=512, help="rendered training faces (default 512)")
    parser.add_argument("--val-samples", type=int, default=128, help="rendered validation faces (default 128)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--accelerator", default="cpu", help="cpu, gpu or auto (default cpu)")
    args = parser.parse_args(argv)

    L.seed_everything(0, verbose=False)
    task = HeadTurn()
    model = FaceXFormer(
        tasks=[task], backbone="test_convnext", image_size=args.size, dim=64, decoder_mlp_dim=128, lr=args.lr
    )
    data = MultiTaskDataModule(
        train={"synthetic": render(args.train_samples, args.size + 16, 1, task)},
        val={"synthetic": render(args.val_samples, args.size + 16, 2, task)},
        batch_size=args.batch_size,
        crop=CropFace(size=args.size),
        augment={"flip": 0.5, "affine": 0.0, "gamma": 0.0, "blur": 0.0, "grayscale": 0.0, "erase": 0.0},
    )
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    evaluator = L.Trainer(accelerator=args.accelerator, use_distributed_sampler=False, **quiet)
    before = evaluator.validate(model, datamodule=data, verbose=False)[0]["val/turn/accuracy"]
    trainer = L.Trainer(
        max_steps=args.steps,
        accelerator=args.accelerator,
        use_distributed_sampler=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        **quiet,
    )
    trainer.fit(model, datamodule=data)
    after = evaluator.validate(model, datamodule=data, verbose=False)[0]["val/turn/accuracy"]
    print(
        f"head-turn accuracy on {args.val_samples} unseen faces: {before:.3f} before, {after:.3f} after "
        f"{args.steps} steps"
    )
    return {"before": before, "after": after}


if __name__ == "__main__":
    main()
