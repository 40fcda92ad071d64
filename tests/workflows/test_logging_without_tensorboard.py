"""The shipped configs log to TensorBoard when it is installed (an optional extra) and to CSV otherwise: a base
install runs the quickstart as written, with the same callbacks (pictures as PNG files next to metrics.csv)."""

import csv

import pytest
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.trainer.connectors.logger_connector import logger_connector

from facexformer.apps.cli import main
from tests.workflows.steps import TINY_QUICKSTART


def test_quickstart_falls_back_to_csv_without_tensorboard(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(logger_connector, "_TENSORBOARD_AVAILABLE", False)
    monkeypatch.setattr(logger_connector, "_TENSORBOARDX_AVAILABLE", False)
    monkeypatch.chdir(tmp_path)
    cli = main(["fit", *TINY_QUICKSTART])
    assert type(cli.trainer.logger) is CSVLogger
    log_dir = tmp_path / "runs/quickstart/version_0"
    with open(log_dir / "metrics.csv") as handle:
        columns = set(next(csv.reader(handle)))
    assert {"val/landmarks/nme", "test/landmarks/nme", "test/gender/accuracy"} <= columns
    assert sorted(p.name.split("_epoch")[0] for p in (log_dir / "images").iterdir()) == ["val_ced", "val_overlays"]
    assert (log_dir / "ced" / "test.csv").is_file() and (log_dir / "ced" / "test.png").is_file()
    assert (log_dir / "checkpoints/last.ckpt").is_file() and (log_dir / "config.yaml").is_file()
