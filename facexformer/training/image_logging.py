"""``LogValidationImages``: pictures of what the model predicts on validation data, sent to the loggers.

Every ``every_n_epochs`` epochs (not during the sanity check), on the global-zero process:

- ``val/overlays``: a grid of the first ``num_images`` crops of the first validation batch with the outputs of
  the model's image-frame tasks (those declaring keypoint or mask labels, e.g. landmarks and parsing) drawn by
  their ``Task.draw`` hooks, and their labels where the batch has them (``Task.reference``, e.g. landmarks in
  red beside the predicted green);
- ``val/ced``: when a task's validation metrics keep per-image errors (a ``per_image()`` method, as the
  landmark NME metrics do), the CED curve of the epoch's errors of the first such task with AUC and FR at the
  task's ``threshold`` (read from the module's ``val_metrics`` before the module resets them; this process's
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
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_warn
from PIL import Image
from torchvision.utils import make_grid

from facexformer.geometry.crop import CropSettings
from facexformer.inference.visualize import plot_ced
from facexformer.io.atomic import write_atomically
from facexformer.tasks.drawing import Overlay


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
        if batch_idx == 0 and dataloader_idx == 0 and len(batch["image"]) and self._due(trainer):
            grid = overlay_grid(pl_module, batch, self.num_images, self.alpha)
            if grid is not None:
                log_image(trainer, "val/overlays", grid)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._due(trainer):
            return
        found = per_image_errors(pl_module)
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
    """(3, H', W') uint8 grid of the first ``num_images`` crops of ``batch`` with predictions drawn on them,
    each enlarged to at least ``GRID_CELL`` pixels (marks drawn at that size, so a 64-pixel crop is judgeable).

    Drawn: the tasks whose labels live in the image (``keypoint_keys`` or ``mask_keys``), each through its
    ``draw`` hook on the crop (the crop is its own photo: ``to_photo`` with an identity ``CropWindow``), labels
    first. None when the model has no such task.
    """
    tasks = [task for task in pl_module.tasks if task.keypoint_keys or task.mask_keys]
    if not tasks:
        return None
    images = batch["image"][:num_images]
    floats = images.float() / 255 if not images.is_floating_point() else images.float()
    param = next(pl_module.parameters())
    outputs = pl_module(pl_module.normalize(floats.to(param.device, param.dtype)), [t.name for t in tasks])
    height, width = images.shape[-2:]
    whole = CropSettings(size=int(width), margin=0).crop((0, 0, width, height), (int(width), int(height)))
    crops = [whole] * len(images)
    values = {task.name: task.to_photo(outputs[task.name].float(), crops) for task in tasks}
    pixels = (floats.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    pictures = []
    for i, rgb in enumerate(pixels):
        overlay = Overlay(Image.fromarray(rgb), alpha)
        for task in tasks:
            label = task.reference(batch, i)
            if label is not None:
                task.draw(overlay, label, whole.box, reference=True)
            task.draw(overlay, values[task.name][i], whole.box)
        picture = overlay.render(legend=False, scale=grid_scale(int(width)))
        pictures.append(torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1))
    return make_grid(pictures, nrow=min(4, len(pictures)), padding=2)


#: the side, in pixels, that each crop of the validation grid is enlarged to at least
GRID_CELL = 224


def grid_scale(size: int) -> int:
    """The whole factor that enlarges a ``size``-pixel crop to at least ``GRID_CELL`` pixels (1 for large ones)."""
    return max(1, -(-GRID_CELL // max(size, 1)))


def per_image_errors(pl_module: Any) -> tuple[torch.Tensor, float, str] | None:
    """(per-image errors (M,), CED threshold, normalisation name) of the current validation epoch, from the first
    task whose validation metrics keep per-image errors, or None."""
    metrics = getattr(pl_module, "val_metrics", None)
    for task in getattr(pl_module, "tasks", ()):
        if metrics is None or task.name not in metrics:
            continue
        holders = [m for m in metrics[task.name].values() if hasattr(m, "per_image")]
        if not holders:
            continue
        errors = max((m.per_image() for m in holders), key=lambda e: e.numel())
        if errors.numel() == 0:
            return None
        normalization = getattr(holders[0], "normalization", "none")
        return errors.detach().cpu(), float(getattr(task, "threshold", 0.1)), normalization
    return None


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
