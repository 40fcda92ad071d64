"""Reading every kind of FaceXFormer weights into one form: ``read_checkpoint(source) -> Checkpoint``.

Kinds: ``"folder"`` (``save_pretrained``: ``config.json`` + ``model.safetensors``), ``"lightning"`` (a
``.ckpt`` written by ``Trainer``/LightningCLI) and ``"released"`` (the authors' ``model.pt``); a source can
also be a Hub repo id. Pickled files are opened with ``torch.load(weights_only=True)`` and the class paths a
config names pass one allow-list (``facexformer.io.class_paths``) unless the caller trusts the file. Every
failure is a ``CheckpointError`` that names the file.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from facexformer.io import released
from facexformer.io.class_paths import check_class_paths
from facexformer.io.errors import CheckpointError, CheckpointNotFoundError
from facexformer.io.hub import hub_download, looks_like_hub_id
from facexformer.io.released import IMAGENET_MEAN, IMAGENET_STD, RELEASED_CONFIG, RELEASED_HUB_FILES, RELEASED_KEY

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"


class Checkpoint(NamedTuple):
    """What a weights source holds.

    ``config``: the constructor arguments it was saved with (keys starting with ``_``, e.g. LightningCLI's
    ``_instantiator``, dropped), ``None`` when it has none. ``state``: ``FaceXFormer.state_dict()`` keys
    (``net.``, ``criteria.``) for folders and Lightning files, the released keys for the released file.
    """

    kind: str
    config: dict[str, Any] | None
    state: dict[str, torch.Tensor]
    path: Path


def resolve_source(
    source: str | Path,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
) -> Path:
    """A local file or ``save_pretrained`` folder for ``source`` (a path, or a Hub repo id that is downloaded).

    A local path that does not exist is reported at once; only ``owner/name`` strings that are no local path
    are looked up on the Hub.
    """
    path = Path(source).expanduser()
    if path.exists():
        return path
    if not looks_like_hub_id(str(source)):
        raise CheckpointNotFoundError(f"{source}: no such file or folder")
    options = {"revision": revision, "token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
    if source in RELEASED_HUB_FILES:
        return hub_download(str(source), RELEASED_HUB_FILES[str(source)], **options)
    hub_download(str(source), CONFIG_NAME, **options)
    return hub_download(str(source), WEIGHTS_NAME, **options).parent


def read_checkpoint(
    source: str | Path,
    *,
    trusted: bool = False,
    sha256: str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    replaced: Collection[str] = (),
    tensors_only: bool = False,
) -> Checkpoint:
    """Read ``source`` (folder, ``.ckpt``, released ``model.pt`` or Hub id) on the CPU.

    Every class path its config names (backbone, tasks, crop...) must pass the allow-list
    (``facexformer.io.class_paths``) before anything is imported. ``replaced``: top-level config keys the caller
    replaces, not checked (their values serve messages only, never a model). ``tensors_only``: the config is
    neither checked nor returned (None).
    ``trusted=True`` allows any class path and opens a pickle in full (``weights_only=False``): both may run
    code, so only for files you trust. ``sha256`` equal to the file's SHA-256 opens the pickle in full too. The
    published released file (``RELEASED_SHA256``) is opened in full when ``weights_only`` refuses it.
    """
    checkpoint = _read(source, trusted, sha256, revision, token, cache_dir, local_files_only)
    if tensors_only or checkpoint.config is None:
        return checkpoint._replace(config=None) if tensors_only else checkpoint
    check_class_paths(checkpoint.config, checkpoint.path, trusted, skip=replaced)
    return checkpoint if checkpoint.kind == "released" else checkpoint._replace(config=_config(checkpoint.config))


def _read(
    source: str | Path,
    trusted: bool,
    sha256: str | None,
    revision: str | None,
    token: str | bool | None,
    cache_dir: str | Path | None,
    local_files_only: bool,
) -> Checkpoint:
    """``read_checkpoint`` without the allow-list: the config as the file holds it, private keys included."""
    path = resolve_source(
        source, revision=revision, token=token, cache_dir=cache_dir, local_files_only=local_files_only
    )
    if path.is_file() and path.name == WEIGHTS_NAME:
        path = path.parent
    if path.is_dir():
        return _read_folder(path)
    if sha256 is not None:
        actual = file_sha256(path)
        if actual.lower() != sha256.lower():
            raise CheckpointError(f"{path}: SHA-256 is {actual}, expected {sha256}; not loading it")
        trusted = True
    content = _torch_load(path, trusted)
    if not isinstance(content, dict):
        raise CheckpointError(f"{path}: not a FaceXFormer checkpoint (holds a {type(content).__name__}, not a dict)")
    if RELEASED_KEY in content:
        state = content[RELEASED_KEY]
        _check_state(state, path, RELEASED_KEY)
        return Checkpoint("released", dict(RELEASED_CONFIG), state, path)
    if "state_dict" in content:
        _check_state(content["state_dict"], path, "state_dict")
        hparams = content.get("hyper_parameters")
        config = None if not hparams else dict(hparams)
        return Checkpoint("lightning", config, content["state_dict"], path)
    raise CheckpointError(
        f"{path}: not a FaceXFormer checkpoint: no {RELEASED_KEY!r} (released file) nor 'state_dict' (Lightning) "
        f"entry; it holds {sorted(map(str, content))[:6]}"
    )


def network_state(checkpoint: Checkpoint, tasks: list) -> dict[str, torch.Tensor]:
    """The ``FaceXFormerNet`` weights of ``checkpoint`` (``net.`` stripped; released keys converted for ``tasks``)."""
    if checkpoint.kind == "released":
        from facexformer.io.released import convert_released_state_dict

        try:
            return convert_released_state_dict(checkpoint.state, tasks)
        except KeyError as err:
            raise CheckpointError(f"{checkpoint.path}: {err.args[0]}") from None
    return {k.removeprefix("net."): v for k, v in checkpoint.state.items() if k.startswith("net.")}


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 16 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(16 << 20):
            digest.update(block)
    return digest.hexdigest()


def is_published_release(path: str | Path) -> bool:
    """Whether ``path`` is the published released file: its size, then its SHA-256, equal the published ones."""
    path = Path(path)
    return path.stat().st_size == released.RELEASED_SIZE and file_sha256(path) == released.RELEASED_SHA256


def _read_folder(path: Path) -> Checkpoint:
    config_file, weights_file = path / CONFIG_NAME, path / WEIGHTS_NAME
    for needed in (config_file, weights_file):
        if not needed.is_file():
            raise CheckpointNotFoundError(f"{path} has no {needed.name}; expected a folder written by save_pretrained")
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config_file}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_file}: expected a JSON object of constructor arguments")
    _check_not_empty(weights_file)
    try:
        state = load_file(str(weights_file))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(
            f"{weights_file}: not a readable safetensors file, truncated or corrupt ({err})"
        ) from None
    return Checkpoint("folder", config, state, path)


def _torch_load(path: Path, trusted: bool) -> Any:
    _check_not_empty(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as err:
        if not _torch_file_signature(path):
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)") from None
        if is_published_release(path):  # the authors' file, byte for byte: trusted as published
            return torch.load(path, map_location="cpu", weights_only=False)
        lines = [line.strip() for line in str(err).splitlines()]
        detail = next((line for line in lines if "Unsupported global" in line), lines[0] if lines else "")
        detail = detail.split(". Please use")[0]
        raise CheckpointError(
            f"refusing to load {path}: it holds pickled Python objects beyond tensors and plain containers, which "
            "could run code when loaded. If you trust the file, pass trusted=True (or sha256=<its published "
            "checksum>) to from_pretrained/read_checkpoint; better, re-save it as safetensors with "
            f"save_pretrained. ({detail})"
        ) from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, KeyError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, truncated or corrupt ({reason})") from None


def _torch_file_signature(path: Path) -> bool:
    """Whether ``path`` starts as ``torch.save`` files do: a zip archive, or a pickle (protocol 2 or later)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted download or save?")


def _check_state(state: Any, path: Path, key: str) -> None:
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: its {key!r} entry is not a dict of tensors")


def _config(config: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments without private keys, ImageNet normalisation for older files."""
    config = {k: v for k, v in config.items() if not str(k).startswith("_")}
    # files written before the normalisation was saved were all trained with ImageNet's
    config.setdefault("pixel_mean", list(IMAGENET_MEAN))
    config.setdefault("pixel_std", list(IMAGENET_STD))
    return config


def task_configs(tasks: Any) -> list[dict[str, Any]]:
    """``[{"class_path", "init_args"}, ...]`` of a task list as configs and checkpoints hold it (``None``: the
    released tasks), in JSON form, for comparing a saved list with a configured one."""
    from facexformer.tasks import RELEASED_TASKS, task_from_config

    specs = []
    for spec in RELEASED_TASKS if tasks is None else tasks:
        spec = spec.as_dict() if hasattr(spec, "as_dict") else spec
        specs.append(task_from_config(spec).to_config())  # short names and defaults spelt out, as saved
    return json.loads(json.dumps(specs, default=str))


def check_checkpoint_tasks(ckpt_path: str | Path | None, tasks: Any, trusted: bool = False) -> None:
    """Raise ``CheckpointError`` if the Lightning file ``ckpt_path`` names a class path the allow-list refuses
    (unless ``trusted``) or was trained for other tasks than ``tasks`` (a configured task list, ``None``: the
    released tasks). Names like ``"last"`` and files without saved tasks pass."""
    if ckpt_path is None or not Path(ckpt_path).is_file():
        return
    checkpoint = read_checkpoint(ckpt_path, trusted=trusted)
    saved = (checkpoint.config or {}).get("tasks")
    if saved is None:
        return
    saved, wanted = task_configs(saved), task_configs(tasks)
    if saved != wanted:
        raise CheckpointError(
            f"{checkpoint.path} was trained for other tasks than the config's: checkpoint {_summary(saved)}, config "
            f"{_summary(wanted)}. Pass --tasks_from_checkpoint true to continue with the checkpoint's tasks, or start "
            "a new run from its weights with --model.init_weights"
        )


def _summary(configs: list[dict[str, Any]]) -> str:
    return "[" + ", ".join(f"{c['class_path'].rpartition('.')[2]}({c.get('init_args') or {}})" for c in configs) + "]"
