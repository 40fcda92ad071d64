"""Train on a Hugging Face ``datasets.Dataset`` through ``HFDataset``.

The dataset here is built in memory from rendered faces, with column names of its own (``img``, ``pts``,
``pose``) mapped onto the sample contract by ``columns``. A real one works the same way: load it with
``datasets.load_dataset(...)`` or ``load_from_disk(...)`` and map its columns; labels must already be in the
contract's units (landmarks in pixels, head pose in degrees as (pitch, yaw, roll)).

    python examples/hf_dataset.py                     # needs the `datasets` package (pip install '.[hf]')
    python examples/hf_dataset.py --save-to data/hf_faces   # also write the dataset with save_to_disk
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
from PIL import Image

from facexformer import FaceXFormer
from facexformer.data.crop import CropFace
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.hf import HFDataset
from facexformer.data.synthetic import SyntheticFaces


def build_hf_dataset(count: int, size: int, seed: int):
    """A ``datasets.Dataset`` of ``count`` rendered faces: columns img (PIL), pts (68 x 2 pixels), pose."""
    import datasets

    faces = SyntheticFaces(count, size=size, seed=seed, tasks=["landmarks", "headpose"])
    rows = [faces[i] for i in range(count)]
    return datasets.Dataset.from_dict(
        {
            "img": [Image.fromarray(r["image"].permute(1, 2, 0).numpy()) for r in rows],
            "pts": [r["landmarks"].tolist() for r in rows],
            "pose": [r["headpose"].tolist() for r in rows],
        },
        features=datasets.Features(
            {
                "img": datasets.Image(),
                "pts": datasets.Sequence(datasets.Sequence(datasets.Value("float32"), length=2)),
                "pose": datasets.Sequence(datasets.Value("float32"), length=3),
            }
        ),
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=64, help="rows of the in-memory dataset (default 64)")
    parser.add_argument("--size", type=int, default=64, help="network input side in pixels (default 64)")
    parser.add_argument("--steps", type=int, default=10, help="training steps (default 10)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--save-to", type=Path, default=None, help="also write the dataset here (save_to_disk)")
    parser.add_argument("--accelerator", default="auto")
    args = parser.parse_args(argv)

    L.seed_everything(0, verbose=False)
    table = build_hf_dataset(args.samples, args.size + args.size // 4, seed=5)
    if args.save_to is not None:
        table.save_to_disk(str(args.save_to))
        table = args.save_to  # HFDataset also takes a save_to_disk folder
    faces = HFDataset(
        table, task=["landmarks", "headpose"], columns={"image": "img", "landmarks": "pts", "headpose": "pose"}
    )
    sample = faces[0]
    print(
        f"{len(faces)} samples; first: {sample['source']}, tasks {sample['tasks']}, "
        f"landmarks {tuple(sample['landmarks'].shape)}, box {[round(v, 1) for v in sample['box'].tolist()]}"
    )

    model = FaceXFormer(
        tasks=["landmarks", "headpose"],
        backbone="test_convnext",
        image_size=args.size,
        dim=64,
        decoder_mlp_dim=128,
        lr=2e-3,
    )
    data = MultiTaskDataModule(
        train={"hf": faces},
        batch_size=args.batch_size,
        crop=CropFace(size=args.size),
        augment={"flip": 0.5, "affine": 0.0, "erase": 0.0},
    )
    trainer = L.Trainer(
        max_steps=args.steps,
        accelerator=args.accelerator,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
    )
    trainer.fit(model, datamodule=data)
    losses = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
    print("last training losses:", {k: round(v, 4) for k, v in sorted(losses.items())})
    return losses


if __name__ == "__main__":
    main()
