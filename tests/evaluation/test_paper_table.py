"""``facexformer test`` prints one table in the papers' form (the shipped 300W evaluation config, on generated
300W data and a tiny model); the table's names and units."""

import math
import warnings

import yaml

from facexformer.apps.cli import main, shipped_configs
from facexformer.evaluation.table import build_rows, paper_form
from facexformer.training.stage_metrics import EpochResult
from tests.cli_args import TINY_MODEL
from tests.fake_data import w300


def test_eval_released_300w_prints_one_table_without_nan_or_warnings(tmp_path, capsys):
    config = yaml.safe_load(shipped_configs()["eval_released_300w"].read_text())
    root = w300.write(tmp_path / "300W")
    for dataset in config["data"]["test"].values():
        dataset["init_args"]["root"] = str(root)
    config["model"].pop("init_weights")  # no Hub here: an untrained tiny model with the config's tasks
    config["data"].update(num_workers=0, crop={"class_path": "facexformer.data.CropFace", "init_args": {"size": 64}})
    config["trainer"].update(default_root_dir=str(tmp_path / "runs"), logger=False, enable_progress_bar=False)
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["test", "--config", str(path), *TINY_MODEL])
    out = capsys.readouterr().out
    assert out.count("| subset | task | metric |") == 1, out
    assert "nan" not in out.lower() and "─" not in out  # no Lightning table
    lines = [line for line in out.splitlines() if line.startswith("| common") or line.startswith("| full")]
    assert any("NME_io" in line and "2.66" in line for line in lines)  # published number beside ours
    assert all("| landmarks |" in line for line in lines)  # only the task 300W carries
    assert not [w for w in caught if "no sample" in str(w.message) or "sync_dist" in str(w.message)]


def result(kind: str, key: str, value: float, **settings) -> EpochResult:
    return EpochResult("test", "t", key, value, 5, kind, tuple(settings.items()))


def test_names_and_units_follow_the_papers():
    assert paper_form(result("NME", "nme_inter_pupil", 0.0625, normalization="inter_pupil")) == ("NME_ip", 6.25, "%")
    assert paper_form(result("FailureRate", "fr", 0.25, normalization="inter_ocular", threshold=0.1)) == (
        "FR@0.1",
        25.0,
        "%",
    )
    assert paper_form(result("PoseMAE", "mae_yaw", 3.5, rule="6drepnet")) == ("MAE_yaw (6drepnet)", 3.5, "°")
    assert paper_form(result("AgeMAE", "mae", 4.2)) == ("MAE_age", 4.2, "years")
    assert paper_form(result("ParsingF1", "f1_skin", 0.9, ignore_background=True))[:2] == ("F1_skin", 90.0)
    assert paper_form(result("ParsingF1", "f1_background", 0.9, ignore_background=True)) is None
    assert paper_form(result("DegenerateTargets", "degenerate", 0.0)) is None  # a zero count is not shown


def test_an_empty_subset_says_so_and_nan_is_never_a_value():
    rows = build_rows([result("NME", "nme", math.nan, normalization="bbox")], ["test", "blur"])
    assert rows[0].value is None and rows[0].metric == "NME_box"
    assert (rows[1].subset, rows[1].metric, rows[1].faces, rows[1].value) == ("blur", "empty subset", 0, None)
