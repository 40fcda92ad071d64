import lightning as L
import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from facexformer.training.run_files import free_file, free_folder, run_directory


def test_free_folder_skips_taken_names(tmp_path):
    assert free_folder(tmp_path / "ced") == tmp_path / "ced"
    (tmp_path / "ced").mkdir()
    assert free_folder(tmp_path / "ced") == tmp_path / "ced"  # empty: still free
    (tmp_path / "ced" / "test.csv").write_text("x")
    (tmp_path / "ced_1").write_text("a file")
    assert free_folder(tmp_path / "ced") == tmp_path / "ced_2"


def test_run_directory_is_the_loggers_own_folder(tmp_path):
    def trainer(logger):
        return L.Trainer(logger=logger, default_root_dir=tmp_path, enable_progress_bar=False)

    assert run_directory(trainer(False)) == tmp_path
    assert run_directory(trainer(CSVLogger(tmp_path, name="csv"))) == tmp_path / "csv" / "version_0"
    pytest.importorskip("tensorboard")
    assert run_directory(trainer(TensorBoardLogger(tmp_path, name="tb"))) == tmp_path / "tb" / "version_0"


def test_run_directory_of_wandb_is_the_runs_files_folder(tmp_path):
    wandb = pytest.importorskip("wandb")
    folders = []
    for _ in range(2):
        logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="facexformer-test")
        try:
            folders.append(run_directory(L.Trainer(logger=logger, enable_progress_bar=False)))
        finally:
            wandb.finish()
    assert folders[0] != folders[1] and all(f.parent.parent == tmp_path / "wandb" for f in folders)


def test_free_file_skips_taken_names(tmp_path):
    assert free_file(tmp_path / "config.yaml") == tmp_path / "config.yaml"
    (tmp_path / "config.yaml").write_text("a")
    (tmp_path / "config_1.yaml").write_text("b")
    assert free_file(tmp_path / "config.yaml") == tmp_path / "config_2.yaml"
