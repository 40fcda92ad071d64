"""Weights in and out of ``FaceXFormer``: the released file, ``save_pretrained`` folders, Lightning checkpoints,
HF Hub ids, and partial loading for fine-tuning (``init_weights``)."""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from safetensors.torch import load_file, save_file

from facexformer import checkpoints
from facexformer.tasks import Task

if TYPE_CHECKING:
    from facexformer.module import FaceXFormer

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class PretrainedWeights:
    """Mixin of ``FaceXFormer`` (which provides ``net``, ``tasks``, ``hparams``): loading and saving weights."""

    @classmethod
    def from_official_checkpoint(
        cls, path: str | Path, tasks: Sequence[Task | str | dict[str, Any]] | None = None, **kwargs: Any
    ) -> FaceXFormer:
        """Build the released architecture (Swin-B, 224) and load the released ``ckpts/model.pt``.

        ``tasks`` defaults to the eight released tasks; extra tasks (e.g. ``"expression"``) keep their fresh
        initialisation. Returns the model in eval mode.
        """
        return cls._from_official_state(checkpoints.read_official_state_dict(path), tasks=tasks, **kwargs)

    @classmethod
    def _from_official_state(cls, state: dict[str, torch.Tensor], **kwargs: Any) -> FaceXFormer:
        kwargs.setdefault("backbone", "swin_base_patch4_window7_224")
        model = cls(**kwargs)
        model.load_official_state_dict(state)
        return model.eval()

    def load_official_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load released-format weights; every released tensor this model has must fit exactly."""
        converted = checkpoints.convert_official_state_dict(state, self.tasks)
        own = self.net.state_dict()
        for key, value in converted.items():
            if key not in own:
                raise KeyError(
                    f"released weight {key!r} has no place in this model (backbone {self.hparams.backbone!r}?)"
                )
            if own[key].shape != value.shape:
                raise ValueError(
                    f"released weight {key!r} has shape {tuple(value.shape)}, model {tuple(own[key].shape)}"
                )
        new_tasks = tuple(
            f"{kind}.{t.name}." for t in self.tasks if not t.official_prefixes for kind in ("heads", "tokens")
        )
        missing = [k for k in own if k not in converted and not k.startswith(new_tasks)]
        missing = [k for k in missing if not k.endswith(("attn_mask", "relative_position_index"))]
        if missing:
            raise KeyError(f"the released file lacks {len(missing)} weights of this model, e.g. {missing[:3]}")
        self.net.load_state_dict(converted, strict=False)

    def save_pretrained(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write ``config.json`` (the constructor arguments) and ``model.safetensors`` (the network and the
        losses' own parameters, e.g. ArcFace class centres) to ``directory``."""
        directory = Path(directory)
        config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.hparams.items()}
        weights = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        checkpoints.write_atomically(
            directory / WEIGHTS_NAME, lambda tmp: save_file(weights, str(tmp), {"format": "pt"}), overwrite
        )
        checkpoints.write_json(directory / CONFIG_NAME, config, overwrite)
        return directory

    def load_matching_weights(self, source: str | Path) -> list[str]:
        """Copy every tensor of ``source`` whose name and shape match this model; return the names left as they were."""
        state = _network_state(resolve_source(source), self.tasks)
        own = self.net.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        self.net.load_state_dict(usable, strict=False)
        kept = sorted(k for k in own if k not in usable and not k.endswith(("attn_mask", "relative_position_index")))
        if kept:
            rank_zero_info(f"init_weights {source}: {len(kept)} tensors keep their initialisation, e.g. {kept[:4]}")
        return kept

    @classmethod
    def from_pretrained(cls, source: str | Path, **overrides: Any) -> FaceXFormer:
        """Load from a ``save_pretrained`` folder, a Lightning ``.ckpt``, a released ``model.pt`` or a Hub id.

        Hub ids: ``kartiknarayan/facexformer`` (the released file) or a repo written by ``save_pretrained``.
        Returns the model in eval mode. ``overrides`` replace constructor arguments.
        """
        path = resolve_source(source)
        if path.is_dir():
            config = {**constructor_arguments(cls, json.loads((path / CONFIG_NAME).read_text())), **overrides}
            model = cls(**config)
            model.load_state_dict(load_file(str(path / WEIGHTS_NAME)))
            return model.eval()
        content = checkpoints.safe_torch_load(path)
        if isinstance(content, dict) and checkpoints.OFFICIAL_KEY in content:
            return cls._from_official_state(content[checkpoints.OFFICIAL_KEY], **overrides)
        if isinstance(content, dict) and "state_dict" in content and "hyper_parameters" in content:
            model = cls(**{**constructor_arguments(cls, content["hyper_parameters"]), **overrides})
            model.load_state_dict(content["state_dict"])
            return model.eval()
        raise ValueError(f"{path}: not a FaceXFormer checkpoint (no 'state_dict_backbone' nor Lightning 'state_dict')")


def constructor_arguments(cls: type, hparams: dict[str, Any]) -> dict[str, Any]:
    """The entries of saved ``hparams`` that ``cls.__init__`` takes. Private keys (``_instantiator``, which
    LightningCLI adds) are dropped silently, other unknown keys with a warning."""
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(k for k in hparams if k not in accepted and not k.startswith("_"))
    if unknown:
        warnings.warn(f"{cls.__name__}: ignoring saved hyperparameters it does not take: {unknown}", stacklevel=3)
    return {k: v for k, v in hparams.items() if k in accepted}


def resolve_source(source: str | Path) -> Path:
    """A local file or ``save_pretrained`` folder for ``source`` (a path or an HF Hub id, downloaded)."""
    path = Path(source).expanduser()
    if not path.exists() and isinstance(source, str) and _looks_like_hub_id(source):
        if source in checkpoints.OFFICIAL_HUB_FILES:
            return checkpoints.hub_download(source, checkpoints.OFFICIAL_HUB_FILES[source])
        checkpoints.hub_download(source, CONFIG_NAME)
        return checkpoints.hub_download(source, WEIGHTS_NAME).parent
    if path.is_dir() and not (path / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{path} has no {CONFIG_NAME}; expected a folder written by save_pretrained")
    if not path.exists():
        raise FileNotFoundError(f"{source}: no such file, folder or known Hub id")
    return path


def _network_state(path: Path, tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
    """``FaceXFormerNet`` weights from a folder, a released file or a Lightning checkpoint."""
    if path.is_dir():
        state = load_file(str(path / WEIGHTS_NAME))
        return {k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}
    content = checkpoints.safe_torch_load(path)
    if isinstance(content, dict) and checkpoints.OFFICIAL_KEY in content:
        return checkpoints.convert_official_state_dict(content[checkpoints.OFFICIAL_KEY], tasks)
    if isinstance(content, dict) and "state_dict" in content:
        return {k.removeprefix("net."): v for k, v in content["state_dict"].items() if k.startswith("net.")}
    raise ValueError(f"{path}: not a FaceXFormer checkpoint (no 'state_dict_backbone' nor Lightning 'state_dict')")


def _looks_like_hub_id(text: str) -> bool:
    return text.count("/") == 1 and not text.startswith((".", "/", "~"))
