"""A model file never runs code: class paths a file names pass one allow-list before anything is imported.

Each payload names a callable that would leave a trace in the test's temporary folder (a marker file created,
a file or a folder deleted) and sits where a model file names a class: the backbone, a task, the crop. Every
tool that loads a model refuses each one in one line, and the traces are checked: nothing ran. The payloads
only ever point into ``tmp_path``, so even a regression runs them there and nowhere else.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from facexformer import FaceXFormer
from facexformer.io.errors import CheckpointError
from tests.cli_args import TINY_MODEL
from tests.workflows.steps import SYNTHETIC_DATA, run_step

TASKS = ["landmarks", "gender"]
TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}
PAYLOADS = ("os.system", "subprocess.Popen", "os.unlink", "shutil.rmtree")
POSITIONS = ("backbone", "tasks", "crop")


class Traces:
    """The marker a payload would create and the file and folder it would delete, all inside ``root``."""

    def __init__(self, root: Path):
        self.marker = root / "payload-ran"
        self.victim_file = root / "victim.txt"
        self.victim_dir = root / "victim-folder"
        self.victim_file.write_text("keep me")
        self.victim_dir.mkdir()
        (self.victim_dir / "inside.txt").write_text("keep me too")

    def payload(self, name: str) -> dict[str, Any]:
        """``{"class_path", "init_args"}`` calling ``name`` on this folder's marker or victims."""
        init_args = {
            "os.system": {"command": f"touch '{self.marker}'"},
            "subprocess.Popen": {"args": ["touch", str(self.marker)]},
            "os.unlink": {"path": str(self.victim_file)},
            "shutil.rmtree": {"path": str(self.victim_dir)},
        }[name]
        return {"class_path": name, "init_args": init_args}

    def assert_nothing_ran(self) -> None:
        assert not self.marker.exists(), "a payload ran: its marker file exists"
        assert self.victim_file.read_text() == "keep me", "a payload deleted a file"
        assert (self.victim_dir / "inside.txt").is_file(), "a payload deleted a folder"


def with_payloads(config: dict[str, Any], payloads: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``config`` with ``payloads[position]`` as its backbone, its second task and/or its crop."""
    config = copy.deepcopy(config)
    for position, payload in payloads.items():
        if position == "tasks":
            config["tasks"][1] = payload
        else:
            config[position] = payload
    return config


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, Any]:
    """A tiny model: its ``save_pretrained`` folder, and its config and state as a Lightning file holds them."""
    model = FaceXFormer(tasks=TASKS, **TINY)
    folder = model.save_pretrained(tmp_path_factory.mktemp("clean") / "model")
    return {"folder": folder, "hparams": dict(model.hparams), "state": model.state_dict()}


def hostile_files(clean: dict[str, Any], root: Path, payloads: dict[str, dict[str, Any]]) -> tuple[Path, Path]:
    """A ``save_pretrained`` folder and a Lightning ``.ckpt`` whose config holds ``payloads`` (position -> spec)."""
    folder = root / "hostile-model"
    shutil.copytree(clean["folder"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(with_payloads(config, payloads)))
    ckpt = root / "hostile.ckpt"
    hparams = with_payloads(clean["hparams"], payloads)
    torch.save({"state_dict": clean["state"], "hyper_parameters": hparams}, ckpt)
    return folder, ckpt


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_from_pretrained_refuses_every_payload(clean, tmp_path, payload, position):
    traces = Traces(tmp_path)
    for source in hostile_files(clean, tmp_path, {position: traces.payload(payload)}):
        with pytest.raises(CheckpointError) as refused:
            FaceXFormer.from_pretrained(source)
        message = str(refused.value)
        assert "\n" not in message and re.search(rf"refusing {position}(\[1\])? class path '{payload}'", message)
        assert "trusted=True" in message and "--trust_checkpoint" in message and str(source) in message
        traces.assert_nothing_ran()


def test_a_class_path_refused_by_default_loads_when_trusted_or_declared(clean, tmp_path, monkeypatch):
    """Trust is the caller's choice; a backbone class is allowed without it once an installed package declares
    it. Past the check the model is built with that backbone, whose weights the file (a convnext's) lacks."""
    spec = {"class_path": "tests.robustness.test_security.TinyBackbone", "init_args": {}}
    folder, _ = hostile_files(clean, tmp_path, {"backbone": spec})
    with pytest.raises(CheckpointError, match="refusing backbone class path 'tests.robustness"):
        FaceXFormer.from_pretrained(folder)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        FaceXFormer.from_pretrained(folder, trusted=True)
    declared = {spec["class_path"]: "tests (facexformer.backbones tiny)"}
    monkeypatch.setattr("facexformer.io.class_paths.declared_class_paths", lambda kind=None: declared)
    with pytest.raises(CheckpointError, match="does not fit this model"):
        FaceXFormer.from_pretrained(folder)


class TinyBackbone(torch.nn.Module):
    """A backbone a test declares: one 8-channel map at stride 4."""

    def __init__(self) -> None:
        super().__init__()
        self.channels = [8]
        self.conv = torch.nn.Conv2d(3, 8, 4, stride=4)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.conv(images)]


#: each command with the arguments that make it load ``folder`` or ``ckpt`` (in the temporary folder ``root``)
COMMANDS = {
    "infer": lambda folder, ckpt, root: [
        "infer",
        "--checkpoint",
        str(folder),
        "--out",
        str(root / "out"),
        *_photo(root),
    ],
    "export": lambda folder, ckpt, root: [
        "export",
        "--checkpoint",
        str(ckpt),
        "--format",
        "torchscript",
        "--out",
        str(root / "model.pt"),
    ],
    "test": lambda folder, ckpt, root: ["test", *_config_args(), "--ckpt_path", str(ckpt)],
    "fit": lambda folder, ckpt, root: ["fit", *_config_args(), "--ckpt_path", str(ckpt)],
}


def _photo(root: Path) -> list[str]:
    path = root / "face.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(path)
    return [str(path), "--detector", "none", "--workers", "0"]


def _config_args() -> list[str]:
    return ["--config", "quickstart", "--data", str(SYNTHETIC_DATA), *TINY_MODEL, "--model.tasks", json.dumps(TASKS)]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_refuses_payloads_in_one_line(clean, tmp_path, command):
    """One run per command (each costs seconds): a file with a payload in each position, the payloads rotated
    so that every command meets three of the four. The positions one by one: the ``from_pretrained`` test above,
    the same ``read_checkpoint`` every command goes through."""
    traces = Traces(tmp_path)
    first = list(COMMANDS).index(command)
    payloads = {position: PAYLOADS[(first + i) % len(PAYLOADS)] for i, position in enumerate(POSITIONS)}
    hostile = {position: traces.payload(name) for position, name in payloads.items()}
    folder, ckpt = hostile_files(clean, tmp_path, hostile)
    done = run_step(
        f"{command} with {sorted(payloads.values())}", COMMANDS[command](folder, ckpt, tmp_path), tmp_path, 2
    )
    refusal = re.compile(rf"refusing backbone class path '{re.escape(payloads['backbone'])}'.*--trust_checkpoint")
    assert len([line for line in done.stderr.splitlines() if refusal.search(line)]) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    traces.assert_nothing_ran()
    assert not (tmp_path / "out").exists() and not (tmp_path / "model.pt").exists()
