import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from torch.utils.data import DataLoader

from facexformer.data.collate import collate_multitask
from facexformer.data.synthetic import SyntheticFaces
from facexformer.module import FaceXFormer
from facexformer.training.callbacks import PrintNextStep, SaveCED, next_step_message


def to_float(sample):
    return {**sample, "image": sample["image"].float() / 255}


@pytest.fixture(scope="module")
def loader():
    faces = SyntheticFaces(4, size=64, seed=1, tasks=["landmarks"], transform=to_float)
    return DataLoader(faces, batch_size=2, collate_fn=collate_multitask)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FaceXFormer(tasks=["landmarks"], backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64)


def trainer(root, logger=False, callbacks=(), **kwargs):
    return L.Trainer(
        accelerator="cpu",
        logger=logger,
        callbacks=list(callbacks),
        default_root_dir=root,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_ced_files_land_in_a_fresh_folder_of_each_run(model, loader, tmp_path):
    first, second = SaveCED(), SaveCED()
    trainer(tmp_path, callbacks=[first]).test(model, loader)
    trainer(tmp_path, callbacks=[second]).test(model, loader)  # same folder, no logger: must not fail
    assert (first.folder, second.folder) == (tmp_path / "ced", tmp_path / "ced_1")
    rows = (tmp_path / "ced" / "test.csv").read_text().splitlines()
    assert rows[0] == "nme,fraction" and len(rows) == 1 + len(first.curves["test"][0])
    assert (tmp_path / "ced_1" / "test.csv").is_file()


def test_a_named_folder_holding_ced_files_is_refused_at_the_start(model, loader, tmp_path):
    trainer(tmp_path, callbacks=[SaveCED(str(tmp_path / "mine"))]).test(model, loader)
    again = trainer(tmp_path, callbacks=[SaveCED(str(tmp_path / "mine"))])
    with pytest.raises(FileExistsError, match="already holds CED files"):
        again.test(model, loader)
    assert not again.callback_metrics  # stopped before testing anything
    trainer(tmp_path, callbacks=[SaveCED(str(tmp_path / "mine"), overwrite=True)]).test(model, loader)


def test_wandb_runs_twice_in_the_same_folder(model, loader, tmp_path):
    """The reported failure: a second W&B run in one folder died with FileExistsError on ced/test.csv."""
    wandb = pytest.importorskip("wandb")
    pytest.importorskip("matplotlib")
    folders = []
    for _ in range(2):
        callback = SaveCED()
        logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="facexformer-test", log_model=False)
        try:
            trainer(tmp_path, logger, [callback]).test(model, loader)
        finally:
            wandb.finish()
        folders.append(callback.folder)
    assert folders[0] != folders[1]
    for folder in folders:
        run = folder.parent.parent  # wandb/offline-run-*/files/ced
        assert (folder / "test.csv").is_file() and (folder / "test.png").is_file()
        assert list(run.glob("files/media/images/test/ced/test_*.png"))


def test_tensorboard_gets_the_ced_picture(model, loader, tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("matplotlib")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    callback = SaveCED()
    run = trainer(tmp_path, TensorBoardLogger(tmp_path, name="tb"), [callback])
    run.test(model, loader)
    assert callback.folder == tmp_path / "tb" / "version_0" / "ced"
    events = EventAccumulator(run.logger.log_dir)
    events.Reload()
    assert "test/ced/test" in events.Tags()["images"]


def test_next_step_names_the_checkpoint_and_the_infer_command(loader, tmp_path, capsys):
    model = FaceXFormer(tasks=["landmarks"], backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "my ckpts", save_last=True, save_top_k=0)
    run = trainer(
        tmp_path, callbacks=[checkpoint, PrintNextStep()], max_epochs=1, limit_train_batches=1, limit_val_batches=0
    )
    run.fit(model, loader)
    out = capsys.readouterr().out
    last = tmp_path / "my ckpts" / "last.ckpt"
    assert last.is_file() and f"Checkpoint: {last}" in out
    assert f"facexformer infer path/to/photo.jpg --checkpoint '{last}' --out predictions" in out
    assert "No checkpoint was saved" in next_step_message(trainer(tmp_path, enable_checkpointing=False))


@pytest.mark.parametrize("after_test", [False, True])
def test_next_step_is_printed_once_and_last(loader, tmp_path, capsys, after_test):
    model = FaceXFormer(tasks=["landmarks"], backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpts", save_last=True, save_top_k=0)
    run = trainer(tmp_path, callbacks=[checkpoint, PrintNextStep(after_test)], max_epochs=1, limit_train_batches=1)
    run.fit(model, loader, loader)
    printed_at_fit_end = capsys.readouterr().out.count("Checkpoint: ")
    run.test(model, loader, verbose=False)
    assert (printed_at_fit_end, capsys.readouterr().out.count("Checkpoint: ")) == ((0, 1) if after_test else (1, 0))


def test_baseline_comparison_scores_metrics_not_diagnostic_counts(model, tmp_path):
    from facexformer.data.datamodule import MultiTaskDataModule
    from facexformer.training.callbacks import BaselineComparison

    faces = SyntheticFaces(4, size=64, seed=1, tasks=["landmarks"])
    dm = MultiTaskDataModule(train={"f": faces}, test={"f": faces}, batch_size=2)
    comparison = BaselineComparison(num_samples=4)
    trainer(tmp_path, callbacks=[comparison], use_distributed_sampler=False).test(model, dm)
    assert {"test/landmarks/nme", "test/landmarks/fr", "test/landmarks/auc"} <= set(comparison.results)
    assert not {"test/landmarks/nonfinite", "test/landmarks/degenerate"} & set(comparison.results)
    assert comparison.results["test/landmarks/auc"][2] is True and comparison.results["test/landmarks/nme"][2] is False


def test_baseline_is_fitted_in_the_frame_of_the_cropped_test_batches(model, tmp_path):
    from facexformer.data.crop import CropFace
    from facexformer.data.datamodule import MultiTaskDataModule
    from facexformer.tasks.landmarks import pixels_to_normalized
    from facexformer.training.callbacks import BaselineComparison

    faces = SyntheticFaces(4, size=128, seed=1, tasks=["landmarks"])
    dm = MultiTaskDataModule(train={"f": faces}, test={"f": faces}, crop=CropFace(size=64), batch_size=2)
    comparison = BaselineComparison(num_samples=4)
    trainer(tmp_path, callbacks=[comparison], use_distributed_sampler=False).test(model, dm)
    mean_shape = comparison.outputs["landmarks"]
    cropped = torch.stack([dm.stage_datasets("train")["f"][i]["landmarks"] for i in range(4)]).mean(0)
    # the mean shape of the 64-pixel crops, normalised to [-1, 1]; uncropped 128-pixel labels would differ
    torch.testing.assert_close(mean_shape[0], pixels_to_normalized(cropped, 64), atol=1e-5, rtol=0)
    assert "test/landmarks/nme" in comparison.results
