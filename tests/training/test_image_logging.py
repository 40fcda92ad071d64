import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from PIL import Image
from torch.utils.data import DataLoader

from facexformer.data.collate import collate_multitask
from facexformer.data.synthetic import SyntheticFaces
from facexformer.module import FaceXFormer
from facexformer.training.image_logging import LogValidationImages, overlay_grid


def to_float(sample):
    return {**sample, "image": sample["image"].float() / 255}


@pytest.fixture
def loader():
    faces = SyntheticFaces(6, size=64, seed=1, tasks=["landmarks", "parsing"], transform=to_float)
    return DataLoader(faces, batch_size=3, collate_fn=collate_multitask)


@pytest.fixture
def model(tiny_kwargs):
    torch.manual_seed(0)
    return FaceXFormer(tasks=["landmarks", "parsing"], **tiny_kwargs)


def fit(model, loader, logger, every_n_epochs=1, max_epochs=1):
    trainer = L.Trainer(
        max_epochs=max_epochs,
        limit_train_batches=1,
        limit_val_batches=2,
        num_sanity_val_steps=1,
        logger=logger,
        callbacks=[LogValidationImages(num_images=4, every_n_epochs=every_n_epochs)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, loader, loader)
    return trainer


def test_overlay_grid_draws_predictions(model, loader):
    batch = next(iter(loader))
    grid = overlay_grid(model.eval(), batch, num_images=2, alpha=0.5)
    # each 64-pixel crop enlarged 4x (to at least 224 px), marks drawn at that size
    assert grid.dtype == torch.uint8 and grid.shape == (3, 256 + 4, 2 * 256 + 6)
    first = grid[:, 2:258, 2:258].permute(1, 2, 0).numpy()
    plain = np.asarray(Image.fromarray((batch["image"][0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()))
    assert first.shape[:2] == (4 * plain.shape[0], 4 * plain.shape[1])
    assert ((first == (0, 255, 0)).all(-1)).any() and ((first == (255, 0, 0)).all(-1)).any()
    kwargs = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}
    assert overlay_grid(FaceXFormer(tasks=["headpose"], **kwargs), batch, 2, 0.5) is None


def test_csv_logger_gets_pngs(model, loader, tmp_path):
    pytest.importorskip("matplotlib")
    logger = CSVLogger(tmp_path, name="run")
    fit(model, loader, logger, every_n_epochs=2, max_epochs=2)
    images = sorted(p.name for p in (tmp_path / "run" / "version_0" / "images").iterdir())
    # epoch 0 only (every 2 epochs), not the sanity check
    assert images == ["val_ced_epoch000_step1.png", "val_overlays_epoch000_step1.png"]
    with Image.open(tmp_path / "run/version_0/images/val_overlays_epoch000_step1.png") as grid:
        assert grid.size == (3 * 256 + 8, 256 + 4)  # the 3 crops of the first validation batch, 4x enlarged
    with Image.open(tmp_path / "run/version_0/images/val_ced_epoch000_step1.png") as ced:
        assert ced.size == (400, 300)


def test_tensorboard_logger(model, loader, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = fit(model, loader, TensorBoardLogger(tmp_path, name="tb"))
    events = EventAccumulator(trainer.logger.log_dir)
    events.Reload()
    assert {"val/overlays", "val/ced"} <= set(events.Tags()["images"])


def test_wandb_offline_logger(model, loader, tmp_path):
    wandb = pytest.importorskip("wandb")
    logger = WandbLogger(project="facexformer-test", save_dir=str(tmp_path), offline=True, log_model=False)
    try:
        fit(model, loader, logger)
    finally:
        wandb.finish()
    media = list(tmp_path.glob("wandb/offline-run-*/files/media/images/val/*.png"))
    names = sorted(p.name.split("_")[0] for p in media)
    assert names == ["ced", "overlays"]


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="num_images and every_n_epochs"):
        LogValidationImages(num_images=0)
