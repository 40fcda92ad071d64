"""Weights in and out of a ``FaceXFormer``, as functions of the model (the class methods call these).

A model here is anything with ``net`` (``FaceXFormerNet``), ``tasks``, ``hparams`` and ``state_dict``; the
class is passed in where one is built, so this module never imports ``facexformer.module``.
"""

from __future__ import annotations

import inspect
import json
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from safetensors.torch import save_file
from torch import nn

from facexformer.io.atomic import restore_interrupted_folder, write_folder_atomically
from facexformer.io.checkpoint import (
    CARD_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    Checkpoint,
    network_state,
    read_checkpoint,
)
from facexformer.io.class_paths import check_class_paths
from facexformer.io.errors import CheckpointError
from facexformer.io.hub import upload_folder
from facexformer.io.model_card import model_card, task_name
from facexformer.io.released import RELEASED_CONFIG, convert_released_state_dict
from facexformer.tasks import RELEASED_TASKS, task_from_config

ModelT = TypeVar("ModelT", bound=nn.Module)
# buffers every model rebuilds identically; released files may lack them
_DERIVED = ("attn_mask", "relative_position_index")


def build_model(cls: type[ModelT], checkpoint: Checkpoint, *, trusted: bool = False, **overrides: Any) -> ModelT:
    """``cls(**config, **overrides)`` from a checkpoint's config; keys ``cls`` does not take are ignored.

    The class paths of the config that ``overrides`` do not replace must pass the allow-list
    (``facexformer.io.class_paths``) unless ``trusted``.
    """
    if checkpoint.config is None:
        raise CheckpointError(
            f"{checkpoint.path}: holds no hyper_parameters, so the model cannot be rebuilt from it; build the "
            "FaceXFormer yourself and pass the file as init_weights"
        )
    check_class_paths(checkpoint.config, checkpoint.path, trusted, skip=overrides)
    accepted = inspect.signature(cls.__init__).parameters
    config = {k: v for k, v in checkpoint.config.items() if k in accepted}
    ignored = sorted(set(checkpoint.config) - set(config))
    if ignored:
        rank_zero_info(f"{checkpoint.path}: ignoring saved settings {cls.__name__} does not take: {ignored}")
    try:
        return cls(**{**config, **overrides})
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{checkpoint.path}: cannot build {cls.__name__} from its config: {err}") from None


def load_pretrained(
    cls: type[ModelT],
    source: str | Path,
    *,
    trusted: bool = False,
    sha256: str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    allow_nonfinite: bool = False,
    **overrides: Any,
) -> ModelT:
    """A model of class ``cls`` with the weights of ``source`` (anything ``read_checkpoint`` reads), in eval mode.

    Tensors of another dtype than the model's are refused (``check_weights``), and so are NaN/inf values unless
    ``allow_nonfinite`` (then a warning names the tensors). A ``save_pretrained`` folder that a kill left set aside
    (see ``facexformer.io.atomic``) is put back first."""
    if isinstance(source, str | Path) and restore_interrupted_folder(source):
        rank_zero_warn(f"{source}: restored the folder an interrupted save_pretrained had set aside")
    checkpoint = read_checkpoint(
        source,
        trusted=trusted,
        sha256=sha256,
        revision=revision,
        token=token,
        cache_dir=cache_dir,
        local_files_only=local_files_only,
        replaced=overrides,
    )
    if checkpoint.kind == "released":
        overrides = released_mode(overrides)
    model = build_model(cls, checkpoint, trusted=trusted, **overrides)
    if checkpoint.kind == "released":
        load_released_state(model, checkpoint.state, checkpoint.path, allow_nonfinite=allow_nonfinite)
    else:
        load_state(model, checkpoint, allow_nonfinite=allow_nonfinite)
    return model.eval()


def load_state(model: nn.Module, checkpoint: Checkpoint, allow_nonfinite: bool = False) -> None:
    """Load a folder's or Lightning file's full state; every tensor must fit (name, shape, dtype, finite values
    unless ``allow_nonfinite``), else one error naming the file."""
    own = model.state_dict()
    state = checkpoint.state
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        problems = []
        if wrong:
            k = wrong[0]
            problems.append(
                f"{len(wrong)} tensors have another shape, e.g. {k} {tuple(state[k].shape)} in the file, "
                f"{tuple(own[k].shape)} in the model"
            )
        if missing:
            problems.append(f"{len(missing)} model tensors are missing, e.g. {missing[:3]}")
        if unexpected:
            problems.append(f"{len(unexpected)} file tensors have no place in the model, e.g. {unexpected[:3]}")
        saved = [task_name(t) for t in (checkpoint.config or {}).get("tasks") or []]
        raise CheckpointError(
            f"{checkpoint.path} does not fit this model: {'; '.join(problems)} (file tasks {saved}, model tasks "
            f"{[t.name for t in model.tasks]})"
        )
    check_weights(own, state, checkpoint.path, allow_nonfinite)
    model.load_state_dict(state)


def load_released_state(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    path: str | Path = "released file",
    allow_nonfinite: bool = False,
) -> None:
    """Load released-format weights; every released tensor this model has must fit exactly (``check_weights``)."""
    try:
        converted = convert_released_state_dict(state, model.token_tasks)
    except KeyError as err:
        raise CheckpointError(f"{path}: {err.args[0]}") from None
    context_heads = tuple(f"heads.{t.name}." for t in model.token_tasks if t not in model.tasks)
    converted = {k: v for k, v in converted.items() if not k.startswith(context_heads)}
    own = model.net.state_dict()
    for key, value in converted.items():
        if key not in own:
            raise CheckpointError(
                f"{path}: released weight {key!r} has no place in this model (backbone {model.hparams.backbone!r}?)"
            )
        if own[key].shape != value.shape:
            raise CheckpointError(
                f"{path}: released weight {key!r} has shape {tuple(value.shape)}, model {tuple(own[key].shape)}"
            )
    new_tasks = tuple(
        f"{kind}.{t.name}." for t in model.tasks if not t.released_prefixes for kind in ("heads", "tokens")
    )
    missing = [k for k in own if k not in converted and not k.startswith(new_tasks) and not k.endswith(_DERIVED)]
    if missing:
        raise CheckpointError(f"{path} lacks {len(missing)} weights of this model, e.g. {missing[:3]}")
    check_weights(own, converted, path, allow_nonfinite)
    model.net.load_state_dict(converted, strict=False)


def load_matching_weights(model: nn.Module, source: str | Path, *, trusted: bool = False) -> list[str]:
    """Copy every tensor of ``source`` whose name and shape match ``model.net``; return the names left as they were."""
    checkpoint = read_checkpoint(source, trusted=trusted, tensors_only=True)
    state = network_state(checkpoint, model.token_tasks)
    own = model.net.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise CheckpointError(f"{checkpoint.path}: no tensor matches this model by name and shape")
    check_weights(own, usable, checkpoint.path)
    model.net.load_state_dict(usable, strict=False)
    kept = sorted(k for k in own if k not in usable and not k.endswith(_DERIVED))
    if kept:
        rank_zero_info(f"init_weights {source}: {len(kept)} tensors keep their initialisation, e.g. {kept[:4]}")
    return kept


def check_weights(
    own: Mapping[str, torch.Tensor],
    state: Mapping[str, torch.Tensor],
    path: str | Path,
    allow_nonfinite: bool = False,
) -> None:
    """Refuse ``state``'s tensors whose dtype differs from the model's tensor of the same name in ``own`` (a
    damaged or edited header would load as garbage), and those holding NaN or inf values; with
    ``allow_nonfinite`` the latter load, with a warning. Errors (``CheckpointError``) name the file and tensors."""
    wrong = [k for k, v in state.items() if k in own and v.dtype != own[k].dtype]
    if wrong:
        examples = ", ".join(f"{k} is {state[k].dtype} (model {own[k].dtype})" for k in wrong[:3])
        raise CheckpointError(
            f"{path}: {len(wrong)} tensors have another dtype than the model's: {examples}; a damaged or edited "
            "file? (save a model converted to another precision back in float32)"
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if not bad:
        return
    listed = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    if not allow_nonfinite:
        raise CheckpointError(
            f"{path}: {len(bad)} tensors hold NaN or infinite values: {listed}; a diverged run or a damaged file? "
            "Pass allow_nonfinite=True to load them anyway"
        )
    warnings.warn(f"{path}: loading {len(bad)} tensors that hold NaN or infinite values: {listed}", stacklevel=3)


def save_pretrained(
    model: nn.Module, directory: str | Path, *, overwrite: bool = False, metrics: Mapping[str, float] | None = None
) -> Path:
    """Write ``config.json`` (constructor arguments), ``model.safetensors`` (the whole state dict: network and
    the losses' parameters, e.g. ArcFace centres) and a ``README.md`` model card, as one folder.

    The files are written to a temporary folder and renamed into place. ``metrics`` (e.g. ``{"test/...": v}``)
    go into the card; by default, the ``test/`` values of the trainer the model is attached to, if any.
    """
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.hparams.items()}
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if metrics is None:
        metrics = _last_test_metrics(model)

    def fill(folder: Path) -> None:
        save_file(weights, str(folder / WEIGHTS_NAME), {"format": "pt"})
        (folder / CARD_NAME).write_text(model_card(config, metrics))
        (folder / CONFIG_NAME).write_text(_json(config))

    return write_folder_atomically(directory, fill, (WEIGHTS_NAME, CARD_NAME, CONFIG_NAME), overwrite)


def push_to_hub(
    model: nn.Module,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    branch: str | None = None,
    commit_message: str = "Upload FaceXFormer",
    create_pr: bool = False,
    metrics: Mapping[str, float] | None = None,
) -> str:
    """``save_pretrained`` into a temporary folder and upload it to the Hub repo ``repo_id`` (created if
    needed, ``private`` as given) on ``branch``; returns the commit URL."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, Path(tmp) / "model", metrics=metrics)
        return upload_folder(
            folder,
            repo_id,
            token=token,
            private=private,
            branch=branch,
            commit_message=commit_message,
            create_pr=create_pr,
        )


def released_model(cls: type[ModelT], state: dict[str, torch.Tensor], path: str | Path, **kwargs: Any) -> ModelT:
    """The released architecture (``RELEASED_CONFIG`` updated by ``kwargs``) with released-format weights, in
    released mode (see ``released_mode``)."""
    model = cls(**{**RELEASED_CONFIG, **released_mode(kwargs)})
    load_released_state(model, state, path)
    return model.eval()


def released_mode(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``released_tokens`` defaulting to the released tasks, less those that ``kwargs["tasks"]``
    replaces by a variant with other weights (e.g. a heatmap landmark head): whatever tasks are listed, the
    released heads then give the released outputs."""
    replaced = {t.name for t in map(task_from_config, kwargs.get("tasks") or ()) if not t.released_prefixes}
    return {"released_tokens": [n for n in RELEASED_TASKS if n not in replaced], **kwargs}


def _last_test_metrics(model: nn.Module) -> dict[str, float] | None:
    trainer = getattr(model, "_trainer", None)
    if trainer is None:
        return None
    values = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    return {k: float(v) for k, v in values.items() if getattr(v, "numel", lambda: 1)() == 1} or None


def _json(config: Mapping[str, Any]) -> str:
    try:
        return json.dumps(config, indent=2) + "\n"
    except TypeError as err:
        raise TypeError(f"the model's settings must be JSON-able to be saved: {err}") from None
