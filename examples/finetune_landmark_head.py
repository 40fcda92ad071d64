"""Fine-tune only the landmark head: everything else stays frozen (and in eval mode), bit for bit.

    # the released model on 300W (68 points), then on WFLW with a new 98-point head
    python examples/finetune_landmark_head.py --init-weights kartiknarayan/facexformer --w300 data/300W
    python examples/finetune_landmark_head.py --init-weights /path/to/model.pt --wflw data/WFLW
    python examples/finetune_landmark_head.py      # no data, no weights: synthetic faces, a tiny model

``--init-weights`` takes what ``FaceXFormer.from_pretrained`` takes; tensors whose name or shape differ (a
98-point head in place of the released 68-point one) keep their fresh initialisation. Without it a tiny
random model is built (64 px), and without ``--w300``/``--wflw`` synthetic faces (68 points) are used.
Prints the landmark NME, failure rate and AUC before and after.
"""

from __future__ import annotations

import argparse
from typing import Any

import lightning as L
import torch

from facexformer import FaceXFormer
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.datasets.w300 import W300
from facexformer.data.datasets.wflw import WFLW
from facexformer.data.synthetic import SyntheticFaces
from facexformer.tasks import RELEASED_TASKS
from facexformer.tasks.landmarks import Landmarks

TINY = {"backbone": "test_convnext", "dim": 64, "decoder_mlp_dim": 128}


def datasets(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Train and validation datasets and their point count."""
    if args.w300:
        return {"w300": W300(args.w300, "train")}, {"w300": W300(args.w300, "full")}, 68
    if args.wflw:
        return {"wflw": WFLW(args.wflw, "train")}, {"wflw": WFLW(args.wflw, "test")}, 98
    size = args.size + args.size // 4
    train = SyntheticFaces(args.train_samples, size=size, seed=1, tasks=["landmarks"])
    val = SyntheticFaces(args.val_samples, size=size, seed=2, tasks=["landmarks"])
    # rendered once: a list is a map-style dataset
    return {"synthetic": [train[i] for i in range(len(train))]}, {"synthetic": [val[i] for i in range(len(val))]}, 68


def build_model(args: argparse.Namespace, num_points: int) -> FaceXFormer:
    """The model with a ``num_points`` landmark head, only ``net.heads.landmarks`` trainable."""
    landmarks = Landmarks(num_points=num_points, loss="wing")
    common = {"trainable": ["net.heads.landmarks"], "lr": args.lr, "milestones": [10**6]}
    if args.init_weights:
        tasks = [landmarks, *(t for t in RELEASED_TASKS if t != "landmarks")]
        return FaceXFormer(tasks=tasks, init_weights=args.init_weights, **common)
    return FaceXFormer(tasks=[landmarks], image_size=args.size, **TINY, **common)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init-weights", default=None, help="weights to start from (default: a tiny random model)")
    data_group = parser.add_mutually_exclusive_group()
    data_group.add_argument("--w300", default=None, help="300W root (splits train / full)")
    data_group.add_argument("--wflw", default=None, help="WFLW root (splits train / test, 98 points)")
    parser.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--size", type=int, default=64, help="input side of the tiny model (default 64)")
    parser.add_argument("--train-samples", type=int, default=96, help="synthetic training faces (default 96)")
    parser.add_argument("--val-samples", type=int, default=48, help="synthetic validation faces (default 48)")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu or auto (default)")
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)

    L.seed_everything(0, verbose=False)
    train, val, num_points = datasets(args)
    model = build_model(args, num_points)
    size = int(model.hparams.image_size)
    data = MultiTaskDataModule(
        train=train,
        val=val,
        batch_size=args.batch_size,
        crop=CropFace(size=size),
        augment={"flip": 0.5, "rotate": 10.0, "affine": 0.5, "gamma": 0.0, "blur": 0.0, "grayscale": 0.0, "erase": 0.0},
        num_workers=args.num_workers,
    )
    quiet = {
        "accelerator": args.accelerator,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "use_distributed_sampler": False,
    }
    evaluator = L.Trainer(**quiet)
    before = evaluator.validate(model, datamodule=data, verbose=False)[0]
    frozen = {k: v.clone() for k, v in model.net.state_dict().items() if not k.startswith("heads.landmarks")}
    trainer = L.Trainer(max_steps=args.steps, enable_checkpointing=False, limit_val_batches=0, **quiet)
    trainer.fit(model, datamodule=data)
    after = evaluator.validate(model, datamodule=data, verbose=False)[0]
    state = model.net.state_dict()
    if not all(torch.equal(v, state[k]) for k, v in frozen.items()):
        raise RuntimeError("a frozen weight changed")
    results = {}
    for name in ("nme", "fr", "auc"):
        key = f"val/landmarks/{name}"
        results[name] = {"before": before[key], "after": after[key]}
        print(f"{key:20s} before {before[key]:.4f}  after {after[key]:.4f}")
    print("weights outside net.heads.landmarks: unchanged")
    return results


if __name__ == "__main__":
    main()
