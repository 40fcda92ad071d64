"""The likeliest command-line mistakes end in a short message naming the problem and exit status 2."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from facexformer.apps.cli import main
from facexformer.apps.cli_parsing import (
    UserError,
    argv_with_task_class_paths,
    legacy_argv,
    shorten,
    suggestions,
    with_task_class_paths,
)
from facexformer.apps.command_options import ExportOptions, InferOptions

SCRIPT = Path(sys.executable).parent / "facexformer"

#: (name, arguments, text stderr must contain); run in a folder holding photo.png and notes.txt only
MISTAKES = [
    ("missing dataset root", ["fit", "--config", "landmarks_300w_star"], "data/300W does not exist"),
    ("wrong task name", ["fit", "--config", "quickstart", "--model.tasks", "[landmark]"], "unknown task 'landmark'"),
    ("wrong config name", ["fit", "--config", "quickstrat"], "neither a file nor a shipped config"),
    ("misspelt option", ["fit", "--config", "quickstart", "--modell.dim", "3"], "--modell.dim"),
    (
        "option prefix",
        ["fit", "--config", "quickstart", "--trainer.max_epoch", "2"],
        "did you mean --trainer.max_epochs",
    ),
    (
        "Lightning 1 option",
        ["fit", "--config", "quickstart", "--trainer.gpus", "1"],
        "use --trainer.accelerator gpu --trainer.devices N",
    ),
    ("misspelt augment key", ["fit", "--config", "quickstart", "--data.augment", '{"flipp": 0.5}'], "'flipp'"),
    ("bad batch size", ["fit", "--config", "quickstart", "--data.batch_size", "0"], "batch_size must be at least 1"),
    ("unknown backbone", ["fit", "--config", "quickstart", "--model.backbone", "resnet_nope"], "resnet_nope"),
    ("missing --ckpt_path file", ["test", "--config", "quickstart", "--ckpt_path", "nope.ckpt"], "nope.ckpt"),
    (
        "--ckpt_path not a checkpoint",
        ["test", "--config", "quickstart", "--ckpt_path", "notes.txt"],
        "notes.txt: not a PyTorch checkpoint",
    ),
    (
        "missing checkpoint for infer",
        ["infer", "photo.png", "--checkpoint", "missing.ckpt", "--out", "out"],
        "missing.ckpt",
    ),
    (
        "missing checkpoint for export",
        ["export", "--checkpoint", "missing.ckpt", "--format", "onnx", "--out", "m"],
        "missing.ckpt",
    ),
    ("wrong export format", ["export", "--checkpoint", "m.ckpt", "--format", "tflite", "--out", "m"], "--format"),
    (
        "non-image input to infer",
        ["infer", "notes.txt", "--checkpoint", "m.ckpt", "--out", "out"],
        "notes.txt is not an image file",
    ),
    ("missing input to infer", ["infer", "gone.jpg", "--checkpoint", "m.ckpt", "--out", "out"], "gone.jpg: no such"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "photo.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check_short(stderr: str, expected: str) -> None:
    lines = [line for line in stderr.splitlines() if "error" in line or line.startswith("(")]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert expected in stderr, stderr[-3000:]
    assert lines and lines[0].startswith("facexformer") and "--debug" in lines[-1], stderr[-3000:]


@pytest.mark.parametrize(("name", "args", "expected"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake_exits_2_with_a_short_message(name, args, expected, workdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    check_short(capsys.readouterr().err, expected)


def test_debug_flag_raises_the_error_itself(workdir):
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        main(["infer", "gone.jpg", "--checkpoint", "m.ckpt", "--out", "out", "--debug"])
    with pytest.raises(UserError, match="batch_size"):
        main(["infer", "photo.png", "--checkpoint", "m.ckpt", "--out", "out", "--batch_size", "0", "--debug"])
    with pytest.raises(SystemExit):  # the flag holds for one command only
        main(["infer", "gone.jpg", "--checkpoint", "m.ckpt", "--out", "out"])


def run_script(args, cwd, env=None):
    env = {**os.environ, "FACEXFORMER_DEBUG": "", **(env or {})}
    return subprocess.Popen(
        [str(SCRIPT), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_console_script_reports_a_mistake_in_two_lines_and_debug_shows_the_traceback(workdir):
    args = ["fit", "--config", "quickstart", "--model.tasks", "[landmark]"]
    runs = [run_script(args, workdir), run_script([*args, "--debug"], workdir)]
    (_, short), (_, full) = (run.communicate(timeout=300) for run in runs)
    assert runs[0].returncode == 2
    error_lines = short.strip().splitlines()[-2:]
    assert error_lines[0].startswith("facexformer fit: error: --model.tasks: unknown task 'landmark'"), short
    assert "Traceback" not in short
    assert runs[1].returncode != 0 and "Traceback" in full


@pytest.mark.slow
def test_every_mistake_through_the_console_script(workdir):
    runs = [run_script(args, workdir) for _, args, _ in MISTAKES]
    for (name, _, expected), run in zip(MISTAKES, runs, strict=True):
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 2, (name, stderr[-3000:])
        check_short(stderr, expected)


def test_first_release_spellings_are_rewritten():
    argv = [
        "a.png",
        "--batch-size",
        "4",
        "--no-overlay",
        "--overwrite",
        "--tasks",
        "landmarks,headpose",
        "age",
        "--checkpoint",
        "c",
    ]
    assert legacy_argv(argv, InferOptions) == [
        "a.png",
        "--batch_size",
        "4",
        "--overlay=false",
        "--overwrite=true",
        '--tasks=["landmarks", "headpose", "age"]',
        "--checkpoint",
        "c",
    ]
    assert legacy_argv(["--image-size", "64", "--overwrite", "true"], ExportOptions) == [
        "--image_size",
        "64",
        "--overwrite",
        "true",
    ]


def test_shorten_keeps_the_option_and_the_specific_reason():
    message = (
        'Parser key "model.tasks":\n\n  - Expected a path but [x] either not accessible or invalid\n'
        "  - Does not validate against any of the Union subtypes\n  Subtypes: [Sequence[Task], NoneType]\n"
        "  Errors:\n    - unknown task 'x'; known: age\n    - Expected a <class 'NoneType'>\n"
        "  Given value type: <class 'list'>\n  Given value: ['x']"
    )
    assert shorten(message) == "--model.tasks: unknown task 'x'; known: age"
    assert shorten("unrecognized arguments: --modell.dim 3") == "unrecognized arguments: --modell.dim 3"


LANDMARKS = "facexformer.tasks.landmarks.Landmarks"


def test_task_names_become_class_paths_on_the_command_line():
    argv = ["fit", "--model.tasks", "[landmarks, {class_path: headpose}]", "--model.tasks+=age", "--x", "landmarks"]
    out = argv_with_task_class_paths(argv)
    assert yaml.safe_load(out[2]) == [LANDMARKS, {"class_path": "facexformer.tasks.headpose.HeadPose"}]
    assert out[3] == "--model.tasks+=facexformer.tasks.age_gender_race.Age"
    assert out[4:] == ["--x", "landmarks"]  # other options keep their values
    unchanged = ["--model.tasks", "[Landmarks, a.b.C]"]  # class names and class paths are jsonargparse's
    assert argv_with_task_class_paths(unchanged) == unchanged


def test_task_names_become_class_paths_only_under_model_tasks():
    config = {
        "fit": {"model": {"tasks": ["landmarks", {"class_path": "parsing", "init_args": {"weight": 2}}]}},
        "data": {"train": {"s": {"init_args": {"tasks": ["landmarks"]}}}},
        "model": {"released_tokens": ["landmarks"]},
    }
    out = with_task_class_paths(config, "c.yaml")
    assert out["fit"]["model"]["tasks"] == [
        LANDMARKS,
        {"class_path": "facexformer.tasks.parsing.Parsing", "init_args": {"weight": 2}},
    ]
    assert out["data"] == config["data"] and out["model"] == config["model"]
    with pytest.raises(UserError, match="c.yaml: model.tasks: unknown task 'landmark'"):
        with_task_class_paths({"model": {"tasks": ["landmark"]}}, "c.yaml")


def test_no_private_jsonargparse_function_is_replaced():
    import jsonargparse._typehints as typehints

    assert typehints.resolve_class_path_by_name.__module__ == "jsonargparse._typehints"
    source = (Path(__file__).parents[2] / "facexformer" / "apps" / "cli_parsing.py").read_text()
    assert "jsonargparse._" not in source


def test_likely_typos_get_a_suggestion():
    known = ["--trainer.max_epochs", "--trainer.max_steps", "--trainer.devices", "--model.dim"]
    message = "unrecognized arguments: --trainer.max_epoch 2 --modell.dim 3 --trainer.gpus 1 --zzz"
    hints = suggestions(message, known)
    assert "did you mean --trainer.max_epochs (instead of --trainer.max_epoch)?" in hints
    assert "did you mean --model.dim (instead of --modell.dim)?" in hints
    assert "--trainer.gpus is gone from Lightning; use --trainer.accelerator gpu --trainer.devices N" in hints
    assert "zzz" not in hints
    assert suggestions("--data.batch_size: must be at least 1", known) == ""
