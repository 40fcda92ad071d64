"""``LogValidationImages``: pictures of what the model predicts on validation data, sent to the loggers.

Every ``every_n_epochs`` epochs (not during the sanity check), on the global-zero process:

- ``val/overlays``: a grid of the first ``num_images`` crops of the first validation batch with the predicted
  parsing (LaPa colours) and landmarks (green; the labels in red where the batch has them);
- ``val/ced``: when the model has a ``landmarks`` task, the CED curve of the epoch's per-image NMEs with AUC
  and FR (read from the module's ``val_metrics["landmarks"]`` before the module resets them; this process's
  share of the data under DDP). Needs matplotlib; without it only the grid is logged.

Where images go: TensorBoard ``logger.experiment.add_image``, W&B ``logger.log_image``, any other logger with
a ``log_dir`` (e.g. ``CSVLogger``) ``<log_dir>/images/<tag>_epoch<E>_step<S>.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_warn
from PIL import Image
from torchvision.utils import make_grid

from facexformer.inference.visualize import draw_landmarks, draw_parsing, plot_ced
from facexformer.io.atomic import write_atomically


class LogValidationImages(L.Callback):
    """Log validation overlays (and the landmark CED curve) every ``every_n_epochs`` epochs.

    ``num_images``: crops in the grid (from the first validation batch); ``alpha``: parsing colour weight.
    """

    def __init__(self, num_images: int = 8, every_n_epochs: int = 1, alpha: float = 0.5):
        if num_images < 1 or every_n_epochs < 1:
            got = f"{num_images}, {every_n_epochs}"
            raise ValueError(f"LogValidationImages: num_images and every_n_epochs must be >= 1, got {got}")
        self.num_images, self.every_n_epochs, self.alpha = num_images, every_n_epochs, alpha

    def _due(self, trainer: L.Trainer) -> bool:
        return (
            not trainer.sanity_checking and trainer.is_global_zero and trainer.current_epoch % self.every_n_epochs == 0
        )

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx == 0 and dataloader_idx == 0 and self._due(trainer):
            grid = overlay_grid(pl_module, batch, self.num_images, self.alpha)
            if grid is not None:
                log_image(trainer, "val/overlays", grid)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._due(trainer):
            return
        found = landmark_errors(pl_module)
        if found is None:
            return
        errors, threshold, normalization = found
        try:
            picture = ced_picture(errors, threshold, f"NME ({normalization})")
        except ModuleNotFoundError as err:
            rank_zero_warn(f"LogValidationImages: no CED plot: {err}")
            return
        log_image(trainer, "val/ced", picture)


@torch.no_grad()
def overlay_grid(pl_module: Any, batch: dict[str, Any], num_images: int, alpha: float) -> torch.Tensor | None:
    """(3, H', W') uint8 grid of the first ``num_images`` crops of ``batch`` with predictions drawn on them.

    None when the model has neither a ``landmarks`` nor a ``parsing`` task.
    """
    tasks = [name for name in ("landmarks", "parsing") if name in pl_module.task_names]
    if not tasks:
        return None
    images = batch["image"][:num_images]
    floats = images.float() / 255 if not images.is_floating_point() else images.float()
    param = next(pl_module.parameters())
    outputs = pl_module(pl_module.normalize(floats.to(param.device, param.dtype)), tasks)
    size = images.shape[-1]
    pixels = (floats.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    pictures = []
    for i, rgb in enumerate(pixels):
        picture = Image.fromarray(rgb)
        if "parsing" in outputs:
            logits = outputs["parsing"][i : i + 1].float()
            if logits.shape[-2:] != images.shape[-2:]:
                logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
            picture = draw_parsing(picture, logits[0].argmax(0).cpu().numpy(), alpha, legend=False)
        if "landmarks" in outputs:
            truth = batch.get("landmarks")
            if truth is not None and not torch.isnan(truth[i]).all():
                picture = draw_landmarks(picture, truth[i].float().cpu(), colour=(255, 0, 0))
            points = pl_module.task("landmarks").decode(outputs["landmarks"][i : i + 1].float(), size)[0]
            picture = draw_landmarks(picture, points.cpu(), colour=(0, 255, 0))
        pictures.append(torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1))
    return make_grid(pictures, nrow=min(4, len(pictures)), padding=2)


def landmark_errors(pl_module: Any) -> tuple[torch.Tensor, float, str] | None:
    """(per-image NMEs (M,), CED threshold, normalisation name) of the current validation epoch, or None."""
    if "landmarks" not in getattr(pl_module, "task_names", ()):
        return None
    metrics = getattr(pl_module, "val_metrics", None)
    if metrics is None or "landmarks" not in metrics:
        return None
    collection = metrics["landmarks"]
    holders = [m for m in collection.values() if hasattr(m, "per_image")]
    if not holders:
        return None
    errors = max((m.per_image() for m in holders), key=lambda e: e.numel())
    if errors.numel() == 0:
        return None
    threshold = float(getattr(pl_module.task("landmarks"), "threshold", 0.1))
    return errors.detach().cpu(), threshold, holders[0].normalization


def ced_picture(errors: torch.Tensor, threshold: float, xlabel: str) -> torch.Tensor:
    """The CED plot (``plot_ced``) rendered off-screen -> (3, H, W) uint8."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ModuleNotFoundError("the CED plot needs matplotlib: pip install matplotlib") from err
    figure = Figure(figsize=(4, 3), dpi=100)
    canvas = FigureCanvasAgg(figure)
    plot_ced(errors, threshold, ax=figure.add_subplot(), xlabel=xlabel)
    figure.tight_layout()
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1)


def log_image(trainer: L.Trainer, tag: str, image: torch.Tensor, to_files: bool = True) -> None:
    """Send a (3, H, W) uint8 image to every logger of ``trainer`` (see the module docstring); with
    ``to_files=False``, loggers without an image API (e.g. ``CSVLogger``) get no PNG."""
    step, epoch = trainer.global_step, trainer.current_epoch
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, image, global_step=step)
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=tag, images=[image.permute(1, 2, 0).numpy()], step=step)
        elif to_files and getattr(logger, "log_dir", None):
            name = f"{tag.replace('/', '_')}_epoch{epoch:03d}_step{step}.png"
            write_png(Path(logger.log_dir) / "images" / name, image, overwrite=True)


def write_png(path: Path, image: torch.Tensor, overwrite: bool = False) -> None:
    """Write a (3, H, W) uint8 image as a PNG file, atomically."""
    picture = Image.fromarray(image.permute(1, 2, 0).numpy())
    write_atomically(path, lambda tmp: picture.save(tmp, format="PNG"), overwrite)
