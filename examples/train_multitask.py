"""Train several tasks at once from several datasets, each with its own share of every batch, then test
against image-blind baselines.

    python examples/train_multitask.py                          # synthetic stand-ins, tiny model, CPU
    python examples/train_multitask.py --w300 data/300W --celeba data/celeba --utkface data/UTKFace \\
        --backbone swin_base_patch4_window7_224 --pretrained --size 224 --dim 256 --steps 20000

Each task group reads a real dataset when its root is given, otherwise a synthetic stand-in that carries
only that group's labels, so the batches mix datasets exactly as the paper's recipe does:

- landmarks: ``--w300`` (300W, 68 points);
- attributes: ``--celeba`` (CelebA, aligned images);
- age, gender, race: ``--utkface`` (UTKFace, seeded random split).

The full paper recipe (all eight datasets, 8 GPUs) is ``facexformer fit --config paper_multitask``.
"""

from __future__ import annotations

import argparse
from typing import Any

import lightning as L

from facexformer import FaceXFormer
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.datasets.celeba import CelebA
from facexformer.data.datasets.utkface import UTKFace
from facexformer.data.datasets.w300 import W300
from facexformer.data.synthetic import SyntheticFaces
from facexformer.training.callbacks import BaselineComparison

#: task group -> (command-line option, reader, split names for train / val / test, tasks)
GROUPS: dict[str, tuple[str, Any, tuple[str, str, str], tuple[str, ...]]] = {
    "landmarks": ("w300", W300, ("train", "common", "full"), ("landmarks",)),
    "attributes": ("celeba", CelebA, ("train", "val", "test"), ("attributes",)),
    "demographics": ("utkface", UTKFace, ("train", "val", "test"), ("age", "gender", "race")),
}


def synthetic(count: int, size: int, seed: int, tasks: tuple[str, ...]) -> list[dict[str, Any]]:
    """``count`` rendered faces carrying only ``tasks``' labels (rendered once: a list is a dataset)."""
    faces = SyntheticFaces(count, size=size, seed=seed, tasks=tasks)
    return [faces[i] for i in range(count)]


def build_datasets(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """``{stage: {group: dataset}}`` with a real reader where its root was given."""
    stages: dict[str, dict[str, Any]] = {"train": {}, "val": {}, "test": {}}
    for offset, (group, (option, reader, splits, tasks)) in enumerate(GROUPS.items()):
        root = getattr(args, option)
        for stage, split, count in zip(
            stages, splits, (args.train_samples, args.eval_samples, args.eval_samples), strict=True
        ):
            if root:
                stages[stage][group] = reader(root, split)
            else:
                seed = 10 * offset + ("train", "val", "test").index(stage)
                stages[stage][group] = synthetic(count, args.size + args.size // 4, seed, tasks)
    return stages


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float, bool]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, reader, _, tasks in GROUPS.values():
        parser.add_argument(f"--{option}", default=None, help=f"{reader.__name__} root for {', '.join(tasks)}")
    parser.add_argument("--backbone", default="test_convnext", help="timm model (default test_convnext, tiny)")
    parser.add_argument("--pretrained", action="store_true", help="start the backbone from ImageNet weights")
    parser.add_argument("--size", type=int, default=64, help="input side in pixels (default 64)")
    parser.add_argument("--dim", type=int, default=64, help="token width (default 64; released 256)")
    parser.add_argument("--steps", type=int, default=30, help="training steps (default 30)")
    parser.add_argument("--batch-size", type=int, default=24, help="samples per batch, all groups (default 24)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--train-samples", type=int, default=64, help="synthetic faces per group (default 64)")
    parser.add_argument("--eval-samples", type=int, default=24, help="synthetic val/test faces per group")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--devices", default="auto", help="e.g. 8 for DDP on 8 GPUs")
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)

    L.seed_everything(0, verbose=False)
    stages = build_datasets(args)
    tasks = [t for _, _, _, group_tasks in GROUPS.values() for t in group_tasks]
    model = FaceXFormer(
        tasks=tasks,
        backbone=args.backbone,
        backbone_pretrained=args.pretrained,
        image_size=args.size,
        dim=args.dim,
        decoder_mlp_dim=8 * args.dim,
        lr=args.lr,
        milestones=[10**6],
    )
    data = MultiTaskDataModule(
        **stages,
        batch_size=args.batch_size,
        crop=CropFace(size=args.size),
        augment={"flip": 0.5, "rotate": 10.0, "affine": 0.5, "erase": 0.0},
        num_workers=args.num_workers,
    )
    comparison = BaselineComparison(num_samples=64)
    trainer = L.Trainer(
        max_steps=args.steps,
        accelerator=args.accelerator,
        devices=args.devices,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        callbacks=[comparison],
    )
    trainer.fit(model, datamodule=data)
    trainer.test(model, datamodule=data, verbose=False)
    return comparison.results


if __name__ == "__main__":
    main()
