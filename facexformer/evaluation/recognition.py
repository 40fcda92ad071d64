"""1:1 face verification of a model with a ``recognition`` task on InsightFace ``.bin`` benchmarks.

InsightFace protocol (``TASKS.md`` §8): each image and its horizontal mirror are embedded, the two raw
embeddings are summed and L2-normalised, pairs are compared by squared L2 distance, and accuracy is the
10-fold cross-validated one of ``VerificationAccuracy``. Images are resized to the model's input size and
normalised with ``model.normalize`` (the model's own training normalisation, not InsightFace's ±1 scaling).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from facexformer.metrics.verification import VerificationAccuracy, flip_sum_embedding

if TYPE_CHECKING:
    from facexformer.module import FaceXFormer

TASK = "recognition"


def resize_image(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (3, H, W) RGB -> float32 (3, size, size) in [0, 1] (bilinear, antialiased when shrinking)."""
    image = image.float() / 255.0
    if image.shape[-2:] == (size, size):
        return image
    return F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def collate_pairs(items: list[dict[str, Any]], size: int) -> dict[str, torch.Tensor]:
    """VerificationPairs items -> ``image1``/``image2`` (B, 3, size, size) in [0, 1], ``issame`` (B,) bool,
    ``index`` (B,) int64."""
    return {
        "image1": torch.stack([resize_image(item["image1"], size) for item in items]),
        "image2": torch.stack([resize_image(item["image2"], size) for item in items]),
        "issame": torch.stack([torch.as_tensor(item["issame"]).bool() for item in items]),
        "index": torch.stack([torch.as_tensor(item["index"]).long() for item in items]),
    }


def flip_sum_embeddings(model: FaceXFormer, images: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) RGB in [0, 1] -> (B, D) L2-normalise(emb(image) + emb(mirrored image)), float32."""
    both = model.normalize(torch.cat([images, images.flip(-1)]))
    raw = model(both, [TASK])[TASK].float()
    return flip_sum_embedding(raw[: images.shape[0]], raw[images.shape[0] :])


def evaluate_verification(
    model: FaceXFormer,
    pairs: Dataset,
    batch_size: int = 64,
    image_size: int | None = None,
    device: torch.device | str | None = None,
    num_workers: int = 0,
) -> dict[str, float]:
    """10-fold verification accuracy of ``model`` on ``pairs`` (a ``VerificationPairs`` or any dataset with
    the same items: uint8 ``image1``/``image2`` (3, H, W), ``issame``, ``index``).

    ``image_size`` defaults to the model's; ``device`` to the one the model is on (the model is moved to a
    ``device`` given). The model runs in eval mode and is put back in its previous mode afterwards.
    Returns ``{"accuracy", "accuracy_std"}``: mean and population std over the folds, fractions in [0, 1].
    """
    if TASK not in model.task_names:
        raise ValueError(f"evaluate_verification: the model has no {TASK!r} task (it has {model.task_names})")
    metric = VerificationAccuracy()
    if len(pairs) < metric.folds:
        raise ValueError(f"evaluate_verification: {len(pairs)} pairs, need at least {metric.folds} (one per fold)")
    size = int(image_size or model.hparams.image_size)
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    loader = DataLoader(
        pairs, batch_size, shuffle=False, num_workers=num_workers, collate_fn=partial(collate_pairs, size=size)
    )
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in loader:
                metric.update(
                    flip_sum_embeddings(model, batch["image1"].to(device)).cpu(),
                    flip_sum_embeddings(model, batch["image2"].to(device)).cpu(),
                    batch["issame"],
                    batch["index"],
                )
    finally:
        model.train(was_training)
    result = metric.compute()
    return {"accuracy": float(result["accuracy"]), "accuracy_std": float(result["accuracy_std"])}
