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
import subprocess
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from facexformer import FaceXFormer
from facexformer.io.errors import CheckpointError
from tests.cli_args import TINY_MODEL
from tests.workflows.steps import SYNTHETIC_DATA, facexformer_command, run_step, user_environment

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
    content = {"state_dict": clean["state"], "hyper_parameters": hparams, "pytorch-lightning_version": L.__version__}
    torch.save(content, ckpt)
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


@pytest.mark.parametrize("key", ["class_path", "_class_path", "_instantiator"])
def test_the_model_class_a_file_names_passes_the_allow_list_too(clean, tmp_path, key):
    traces = Traces(tmp_path)
    for source in hostile_files(clean, tmp_path, {}):
        config_file = source / "config.json" if source.is_dir() else None
        if config_file is not None:
            config = json.loads(config_file.read_text())
            config_file.write_text(json.dumps({**config, key: "os.system"}))
        else:
            content = torch.load(source, weights_only=True)
            content["hyper_parameters"][key] = "os.system"
            torch.save(content, source)
        with pytest.raises(CheckpointError, match=rf"refusing {key} class path 'os.system'"):
            FaceXFormer.from_pretrained(source)
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
    declared = {spec["class_path"]: "tests (facexformer_backbones tiny)"}
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


def _edit_header(weights: Path, key: str, dtype: str) -> None:
    """Rewrite the dtype of ``key`` in a safetensors header in place (same byte size: the file stays valid)."""
    raw = weights.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    header[key]["dtype"] = dtype
    text = json.dumps(header, separators=(",", ":")).encode()
    weights.write_bytes(raw[:8] + text.ljust(size) + raw[8 + size :])


def test_a_weight_file_whose_dtypes_differ_from_the_model_is_refused(clean, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(clean["folder"], folder)
    key = "net.heads.gender.mlp.layers.0.weight"
    _edit_header(folder / "model.safetensors", key, "I32")  # the float bytes now read as integers
    with pytest.raises(CheckpointError, match=rf"1 tensors have another dtype than the model's: {key} is torch.int32"):
        FaceXFormer.from_pretrained(folder)
    state = dict(clean["state"], **{key: clean["state"][key].double()})
    ckpt = tmp_path / "double.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": clean["hparams"]}, ckpt)
    with pytest.raises(CheckpointError, match=rf"{ckpt}: 1 tensors .* {key} is torch.float64 \(model torch.float32\)"):
        FaceXFormer.from_pretrained(ckpt)


def test_non_finite_weights_are_refused_or_loaded_with_a_warning_when_asked(clean, tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "model"
    shutil.copytree(clean["folder"], folder)
    state = {k: v.clone() for k, v in clean["state"].items()}
    state["net.heads.gender.mlp.layers.0.bias"][3] = float("nan")
    state["net.tokens.landmarks.weight"][0, 0] = float("inf")
    save_file(state, str(folder / "model.safetensors"), {"format": "pt"})
    with pytest.raises(CheckpointError, match=r"2 tensors hold NaN or infinite values: .*allow_nonfinite=True") as info:
        FaceXFormer.from_pretrained(folder)
    assert "net.heads.gender.mlp.layers.0.bias" in str(info.value) and "net.tokens.landmarks.weight" in str(info.value)
    with pytest.warns(UserWarning, match=r"loading 2 tensors that hold NaN .*net.heads.gender.mlp.layers.0.bias"):
        model = FaceXFormer.from_pretrained(folder, allow_nonfinite=True)
    assert model.state_dict()["net.heads.gender.mlp.layers.0.bias"][3].isnan()
    with pytest.raises(CheckpointError, match="hold NaN or infinite"):
        FaceXFormer(tasks=TASKS, init_weights=str(folder), **TINY)  # partial loading checks them too


@pytest.mark.parametrize("command", ["export", "test"])
def test_trust_checkpoint_lets_a_command_import_what_the_file_names(clean, tmp_path, command):
    """With ``--trust_checkpoint true`` the undeclared (harmless) backbone class is imported and built; the
    file's convnext weights then do not fit it, which is the error that proves the allow-list was passed."""
    spec = {"class_path": "tests.robustness.test_security.TinyBackbone", "init_args": {}}
    folder, ckpt = hostile_files(clean, tmp_path, {"backbone": spec})
    args = [*COMMANDS[command](folder, ckpt, tmp_path), "--trust_checkpoint", "true"]
    done = subprocess.run(
        [*facexformer_command(), *args], cwd=tmp_path, env=user_environment(), capture_output=True, text=True
    )
    assert done.returncode != 0 and "refusing" not in done.stderr
    assert re.search(r"does not fit|size mismatch|Missing key", done.stderr), done.stderr[-2000:]
