"""``PretrainedMixin``: every way weights enter and leave a ``FaceXFormer``, with their loading options, in one
class (the methods are thin: ``facexformer.io.weights`` does the work).

It is a base of ``facexformer.module.FaceXFormer`` and builds instances of the class it is called on, so this
module never imports ``facexformer.module``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from facexformer.io import weights
from facexformer.io.checkpoint import read_checkpoint, task_configs
from facexformer.io.errors import CheckpointError
from facexformer.io.model_card import task_name
from facexformer.tasks import Task

ModelT = TypeVar("ModelT", bound="PretrainedMixin")


class PretrainedMixin:
    """Loading and saving weights: ``from_pretrained``, ``from_released_checkpoint``, ``load_released_state_dict``,
    ``load_matching_weights``, ``save_pretrained`` and ``push_to_hub``, for a LightningModule that has ``net``
    (``FaceXFormerNet``), ``tasks``, ``token_tasks`` and ``hparams``."""

    @classmethod
    def from_pretrained(
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
        """Load a ``save_pretrained`` folder, a Lightning ``.ckpt``, a released ``model.pt`` or a Hub repo id.

        Hub ids: ``kartiknarayan/facexformer`` (the released file) or a repo written by ``save_pretrained``
        or ``push_to_hub`` (``revision``, ``token``, ``cache_dir``, ``local_files_only`` go to
        ``hf_hub_download``). The class paths the file names must be built in or declared by an installed package
        (``facexformer.io.class_paths``); ``trusted=True`` allows any and opens a full pickle (both may run code;
        ``sha256`` equal to the file's opens the pickle too). Tensors of another dtype than the model's, or
        holding NaN/inf, are refused; ``allow_nonfinite=True`` loads the latter with a warning naming them.
        ``overrides`` replace constructor arguments. Returns the model in eval mode; failures raise
        ``CheckpointError``.
        """
        return weights.load_pretrained(
            cls,
            source,
            trusted=trusted,
            sha256=sha256,
            revision=revision,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            allow_nonfinite=allow_nonfinite,
            **overrides,
        )

    @classmethod
    def from_released_checkpoint(
        cls: type[ModelT],
        path: str | Path,
        tasks: Sequence[Task | str | dict[str, Any]] | None = None,
        *,
        trusted: bool = False,
        **kwargs: Any,
    ) -> ModelT:
        """Build the released architecture (Swin-B, 224) and load the released ``ckpts/model.pt``.

        ``tasks`` defaults to the eight released tasks; extra tasks (e.g. ``"expression"``) keep their fresh
        initialisation. Returns the model in eval mode.
        """
        checkpoint = read_checkpoint(path, trusted=trusted)
        if checkpoint.kind != "released":
            raise CheckpointError(f"{checkpoint.path} is not a released FaceXFormer file (it is a {checkpoint.kind})")
        if tasks is not None:
            kwargs["tasks"] = tasks
        return weights.released_model(cls, checkpoint.state, checkpoint.path, **kwargs)

    def load_released_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load released-format weights; every released tensor this model has must fit exactly."""
        weights.load_released_state(self, state)

    def load_matching_weights(self, source: str | Path, trusted: bool = False) -> list[str]:
        """Copy every tensor of ``source`` whose name and shape match this model; return the names left as they
        were."""
        return weights.load_matching_weights(self, source, trusted=trusted)

    def save_pretrained(
        self, directory: str | Path, overwrite: bool = False, metrics: Mapping[str, float] | None = None
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a ``README.md`` model card to ``directory`` as one
        folder (``huggingface_hub``'s ``PyTorchModelHubMixin`` layout); see ``facexformer.io.weights``."""
        return weights.save_pretrained(self, directory, overwrite=overwrite, metrics=metrics)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        branch: str | None = None,
        commit_message: str = "Upload FaceXFormer",
        create_pr: bool = False,
    ) -> str:
        """Upload a ``save_pretrained`` folder to the Hub repo ``repo_id`` (created if needed); returns the
        commit URL."""
        return weights.push_to_hub(
            self,
            repo_id,
            token=token,
            private=private,
            branch=branch,
            commit_message=commit_message,
            create_pr=create_pr,
        )


def check_saved_tasks(saved: Sequence[Any] | None, configured: Sequence[Any], names: Sequence[str]) -> None:
    """Refuse (``CheckpointError``) a Lightning checkpoint's saved task list (its ``hyper_parameters["tasks"]``;
    ``None``: saved without one, accepted) that differs from a model's ``configured`` one (``hparams["tasks"]``,
    the tasks ``names``)."""
    if saved is None or task_configs(saved) == task_configs(configured):
        return
    raise CheckpointError(
        "the checkpoint was trained for other tasks than this model: checkpoint "
        f"{[task_name(t) for t in saved]}, model {list(names)}. Build the model with the checkpoint's tasks (on the "
        "command line: --tasks_from_checkpoint true), start a new run from its weights with init_weights, or set "
        "model.check_checkpoint_tasks = False to load it anyway"
    )
