"""Every kind of checkpoint, as the tools write it, through ``read_checkpoint``; every broken one, one clear error."""

import json
import os
import sys
import time
from pathlib import Path

import pytest
import torch

from facexformer import FaceXFormer
from facexformer.apps.cli import main
from facexformer.io.checkpoint import check_checkpoint_tasks, read_checkpoint
from facexformer.io.errors import CheckpointError, CheckpointNotFoundError
from facexformer.io.released import IMAGENET_MEAN
from facexformer.tasks import Landmarks

TESTS = Path(__file__).resolve().parents[1]
SYNTHETIC_DATA = str(TESTS / "conf" / "synthetic_data.yaml")
TINY_ARGS = [
    "--model.backbone",
    "test_convnext",
    "--model.backbone_pretrained",
    "false",
    "--model.image_size",
    "64",
    "--model.dim",
    "32",
    "--model.decoder_mlp_dim",
    "64",
    "--model.tasks",
    '["landmarks", "gender"]',
]


def cli_fit(folder: Path, *extra: str) -> Path:
    """One step of ``facexformer fit --config quickstart`` on synthetic faces in ``folder``; the checkpoint it wrote."""
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        main(
            [
                "fit",
                "--config",
                "quickstart",
                "--data",
                SYNTHETIC_DATA,
                *TINY_ARGS,
                "--trainer.max_steps",
                "1",
                "--trainer.limit_val_batches",
                "1",
                "--data.num_workers",
                "0",
                "--test_after_fit",
                "false",
                "--trainer.enable_progress_bar",
                "false",
                "--trainer.enable_model_summary",
                "false",
                *extra,
            ]
        )
    finally:
        os.chdir(cwd)
    (checkpoint,) = sorted(folder.rglob("last.ckpt"))  # beside the newest epoch's checkpoint
    return checkpoint


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory) -> Path:
    return cli_fit(tmp_path_factory.mktemp("fit"))


def test_a_checkpoint_the_cli_wrote_loads_everywhere(cli_checkpoint, tmp_path):
    raw = torch.load(cli_checkpoint, weights_only=True)
    assert "_instantiator" in raw["hyper_parameters"]  # what broke from_pretrained before
    checkpoint = read_checkpoint(cli_checkpoint)
    assert checkpoint.kind == "lightning" and "_instantiator" not in checkpoint.config
    assert raw["hyper_parameters"]["pixel_mean"] == [0.5, 0.5, 0.5]  # test_convnext's normalisation, stored
    model = FaceXFormer.from_pretrained(cli_checkpoint)
    assert model.task_names == ["landmarks", "gender"] and not model.training
    state = raw["state_dict"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    # init_weights (head-only fine-tuning starts here) takes it too
    tuned = FaceXFormer(
        tasks=["landmarks", "gender"],
        backbone="test_convnext",
        image_size=64,
        dim=32,
        decoder_mlp_dim=64,
        decoder_heads=4,
        init_weights=str(cli_checkpoint),
        trainable=["net.heads.gender"],
    )
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(tuned.eval()(tuned.normalize(x)), model(model.normalize(x)))
    # and the folder written from it goes through the same chain
    folder = model.save_pretrained(tmp_path / "m")
    again = FaceXFormer.from_pretrained(folder)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


def test_keys_the_constructor_does_not_take_are_ignored(tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=["gender"], **tiny_kwargs)
    folder = model.save_pretrained(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config.update(
        {
            "_class_path": "facexformer.module.FaceXFormer",
            "_instantiator": "lightning.pytorch.cli.instantiate_module",
            "added_later": 3,
        }
    )
    (folder / "config.json").write_text(json.dumps(config))
    assert "_class_path" not in read_checkpoint(folder).config
    assert FaceXFormer.from_pretrained(folder).task_names == ["gender"]


def test_normalisation_is_saved_and_older_files_keep_imagenet(tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=["gender"], **tiny_kwargs)
    assert model.normalization == {"mean": [0.5] * 3, "std": [0.5] * 3}  # timm's test_convnext declares 0.5
    folder = model.save_pretrained(tmp_path / "m")
    assert FaceXFormer.from_pretrained(folder).normalization == model.normalization
    config = json.loads((folder / "config.json").read_text())
    del config["pixel_mean"], config["pixel_std"]  # a folder written before normalisation was saved
    (folder / "config.json").write_text(json.dumps(config))
    loaded = FaceXFormer.from_pretrained(folder)
    assert loaded.normalization["mean"] == list(IMAGENET_MEAN)
    assert torch.allclose(loaded.pixel_mean.flatten(), torch.tensor(IMAGENET_MEAN))


@pytest.fixture
def folder(tmp_path, tiny_kwargs) -> Path:
    return FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).save_pretrained(tmp_path / "m")


def test_empty_and_truncated_files_name_the_file(tmp_path, folder, cli_checkpoint):
    empty = tmp_path / "empty.ckpt"
    empty.touch()
    with pytest.raises(CheckpointError, match=rf"{empty} is empty \(0 bytes\)"):
        FaceXFormer.from_pretrained(empty)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(cli_checkpoint.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=rf"{cut}: not a readable PyTorch checkpoint, truncated or corrupt"):
        FaceXFormer.from_pretrained(cut)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:7])
    with pytest.raises(CheckpointError, match=rf"{weights}: not a readable safetensors file") as info:
        FaceXFormer.from_pretrained(folder)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained noise
    (folder / "config.json").write_text('{"tasks": [')
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        FaceXFormer.from_pretrained(folder)


def test_missing_parts_and_paths_are_reported_at_once(tmp_path, folder):
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointNotFoundError, match="has no model.safetensors"):
        FaceXFormer.from_pretrained(folder)
    start = time.perf_counter()
    for typo in (tmp_path / "no_such.ckpt", "runs/model.ckpt", str(tmp_path / "a" / "b")):
        with pytest.raises(FileNotFoundError, match="no such file or folder"):
            FaceXFormer.from_pretrained(typo)
    (tmp_path / "runs").mkdir()
    os.chdir(tmp_path)
    try:
        with pytest.raises(FileNotFoundError, match="no such file or folder"):
            FaceXFormer.from_pretrained("runs/quickstart")  # a mistyped local path, not a Hub repo
    finally:
        os.chdir(TESTS.parent)
    assert time.perf_counter() - start < 5


def test_wrong_shapes_and_other_tasks_name_the_file_and_the_tasks(folder):
    with pytest.raises(CheckpointError, match=r"tensors have another shape, e.g. net\.\S+ \(\d+"):
        FaceXFormer.from_pretrained(folder, tasks=[Landmarks(num_points=98), "gender"])
    expected = rf"{folder} does not fit this model.*file tasks \['landmarks', 'gender'\]"
    with pytest.raises(CheckpointError, match=expected):
        FaceXFormer.from_pretrained(folder, tasks=["landmarks", "age"])


def test_init_weights_from_an_unrelated_file_is_refused(tmp_path, tiny_kwargs):
    path = tmp_path / "unrelated.ckpt"
    torch.save({"state_dict": {"net.encoder.w": torch.zeros(3)}, "hyper_parameters": {}}, path)
    with pytest.raises(CheckpointError, match=rf"{path}: no tensor matches this model"):
        FaceXFormer(tasks=["gender"], init_weights=str(path), **tiny_kwargs)
    with pytest.raises(CheckpointError, match="holds no hyper_parameters"):
        FaceXFormer.from_pretrained(path)


def test_not_a_facexformer_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match=rf"{path}: not a FaceXFormer checkpoint.*\['model'\]"):
        read_checkpoint(path)
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="holds a list"):
        read_checkpoint(path)


class Payload:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused_unless_trusted(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    torch.save({"state_dict_backbone": {"w": torch.zeros(1)}, "args": Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=rf"refusing to load {path}.*pass trusted=True") as info:
        FaceXFormer.from_pretrained(path)
    assert not marker.exists() and info.value.__cause__ is None
    with pytest.raises(CheckpointError, match="SHA-256 is .* expected 00"):
        read_checkpoint(path, sha256="00" * 32)
    assert not marker.exists()
    checkpoint = read_checkpoint(path, trusted=True)  # the user's choice: the pickle runs
    assert marker.exists() and checkpoint.kind == "released" and list(checkpoint.state) == ["w"]
    marker.unlink()
    from facexformer.io.checkpoint import file_sha256

    assert read_checkpoint(path, sha256=file_sha256(path)).kind == "released" and marker.exists()


def test_task_class_paths_are_checked_before_anything_is_imported(tmp_path, folder, monkeypatch):
    module = tmp_path / "mods" / "surprise_module.py"
    module.parent.mkdir()
    module.write_text(f"from pathlib import Path\nPath({str(tmp_path / 'imported')!r}).touch()\nclass Thing: pass\n")
    monkeypatch.syspath_prepend(str(module.parent))
    config = json.loads((folder / "config.json").read_text())
    config["tasks"][1] = {"class_path": "surprise_module.Thing", "init_args": {}}
    (folder / "config.json").write_text(json.dumps(config))
    refused = r"refusing tasks\[1\] class path 'surprise_module.Thing'.*--trust_checkpoint"
    with pytest.raises(CheckpointError, match=refused):
        FaceXFormer.from_pretrained(folder)
    assert not (tmp_path / "imported").exists() and "surprise_module" not in sys.modules
    with pytest.raises(CheckpointError, match="is not a facexformer Task"):
        FaceXFormer.from_pretrained(folder, trusted=True)  # imported on request, still checked to be a Task
    assert (tmp_path / "imported").exists()
    with pytest.raises(CheckpointError, match=refused):
        FaceXFormer.from_pretrained(folder)  # imported now, but no registered task: still refused
    monkeypatch.delitem(sys.modules, "surprise_module")


def test_resuming_with_other_tasks_is_refused(cli_checkpoint, tiny_kwargs):
    check_checkpoint_tasks(cli_checkpoint, ["landmarks", "gender"])
    check_checkpoint_tasks("last", ["age"])  # Lightning's names for checkpoints are not files here
    with pytest.raises(CheckpointError, match=r"other tasks than the config's.*--tasks_from_checkpoint"):
        check_checkpoint_tasks(cli_checkpoint, ["landmarks", "age"])
    with pytest.raises(CheckpointError, match="other tasks"):
        check_checkpoint_tasks(cli_checkpoint, [Landmarks(loss="l1"), "gender"])
    other = FaceXFormer(tasks=["landmarks", "age"], **tiny_kwargs)
    with pytest.raises(CheckpointError, match=r"checkpoint \['landmarks', 'gender'\], model \['landmarks', 'age'\]"):
        other.on_load_checkpoint(torch.load(cli_checkpoint, weights_only=True))
    FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).on_load_checkpoint(
        torch.load(cli_checkpoint, weights_only=True)
    )


def test_cli_fit_refuses_a_checkpoint_of_other_tasks_unless_asked(cli_checkpoint, tmp_path, capsys):
    config_tasks = ["--model.tasks", '["landmarks", "age"]']
    with pytest.raises(SystemExit) as exit_info:
        cli_fit(tmp_path, *config_tasks, "--ckpt_path", str(cli_checkpoint))
    assert exit_info.value.code == 2
    assert "other tasks than the config's" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.ckpt"))
    resumed = cli_fit(
        tmp_path,
        *config_tasks,
        "--ckpt_path",
        str(cli_checkpoint),
        "--tasks_from_checkpoint",
        "true",
        "--trainer.max_steps",
        "2",
    )
    assert read_checkpoint(resumed).config["tasks"] == read_checkpoint(cli_checkpoint).config["tasks"]


def test_the_published_release_opens_in_full_by_its_checksum(tmp_path, monkeypatch):
    """The released file may hold objects beyond tensors; the one with the published size and SHA-256 opens."""
    from facexformer.io import released
    from facexformer.io.checkpoint import file_sha256

    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    torch.save({"state_dict_backbone": {"w": torch.ones(2)}, "args": Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refusing to load"):
        read_checkpoint(path)
    monkeypatch.setattr(released, "RELEASED_SIZE", path.stat().st_size)
    with pytest.raises(CheckpointError, match="refusing to load"):  # same size, another checksum
        read_checkpoint(path)
    assert not marker.exists()
    monkeypatch.setattr(released, "RELEASED_SHA256", file_sha256(path))
    checkpoint = read_checkpoint(path)
    assert checkpoint.kind == "released" and torch.equal(checkpoint.state["w"], torch.ones(2)) and marker.exists()


def test_the_published_checksum_is_the_one_the_reference_notes_abbreviate():
    from facexformer.io.released import RELEASED_SHA256, RELEASED_SIZE

    assert RELEASED_SHA256.startswith("327a7558") and RELEASED_SHA256.endswith("03286d") and len(RELEASED_SHA256) == 64
    assert RELEASED_SIZE == 1_104_869_851


def test_init_weights_needs_no_task_class_from_the_file(tmp_path, tiny_kwargs):
    """Partial loading uses tensors only: a file naming a task class that is not importable here still serves."""
    folder = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).save_pretrained(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["tasks"][1] = {"class_path": "somebody_elses.tasks.Smile", "init_args": {}}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="refusing tasks\\[1\\] class path 'somebody_elses.tasks.Smile'"):
        FaceXFormer.from_pretrained(folder)
    model = FaceXFormer(tasks=["landmarks"], init_weights=str(folder), **tiny_kwargs)
    assert FaceXFormer.from_pretrained(folder, tasks=["landmarks", "gender"]).task_names == ["landmarks", "gender"]
    assert model.task_names == ["landmarks"]
