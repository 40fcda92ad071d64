"""The ``Backbone`` protocol (images -> NCHW feature maps), its timm implementation, and ``build_backbone``.

Short names that are not timm models (a backbone declared by a package under the entry-point group
``facexformer_backbones``) are looked up through ``set_named_backbones``: this module imports nothing above it,
so ``facexformer.plugins.backbones`` installs the look-up of the declared ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from facexformer.model.torchvision_swin import TORCHVISION_PREFIX, load_torchvision_swin

_OFFLINE_HINT = (
    "could not load ImageNet weights for timm model {name!r}: {err}\n"
    "This machine cannot download them. Either build the backbone with pretrained=False (the default; use this "
    "when you load a FaceXFormer checkpoint afterwards), or download the weights elsewhere with\n"
    "    hf download timm/{name}.<tag> model.safetensors\n"
    "and pass weights_file=/path/to/model.safetensors (or copy the Hugging Face cache to $HF_HOME)."
)


@runtime_checkable
class Backbone(Protocol):
    """What ``FaceXFormerNet`` needs from a backbone (an ``nn.Module``, so its weights are saved with the model).

    ``channels``: the widths C_i of the maps it returns. ``__call__((B, 3, S, S) normalised images)`` -> list of
    (B, C_i, H_i, W_i) maps, finest first; the fusion resizes every map to the first one, whose grid is the face
    tokens'. Optional ``mean``/``std``: the RGB normalisation of [0, 1] inputs the backbone expects.
    """

    channels: list[int]

    def __call__(self, images: torch.Tensor) -> list[torch.Tensor]: ...


BackboneSpec = str | Mapping[str, Any]
#: how a timm backbone starts: False (random), True (timm's weights for the tag) or ``"torchvision:<WEIGHTS>"``
Pretrained = bool | str
#: a backbone class (or any callable building one from keyword arguments)
BackboneFactory = Callable[..., nn.Module]
#: short name -> backbone class of the backbones known by name besides timm's models
NamedBackbones = Callable[[], Mapping[str, BackboneFactory]]

_named_backbones: NamedBackbones | None = None


def set_named_backbones(named: NamedBackbones) -> None:
    """Install the look-up of backbones by short name: ``named()`` maps each name to its class. Called once by
    ``facexformer.plugins.backbones`` (the backbones declared under ``facexformer_backbones``)."""
    global _named_backbones
    _named_backbones = named


def build_backbone(
    spec: BackboneSpec, pretrained: Pretrained = False, image_size: int = 224, weights_file: str | Path | None = None
) -> nn.Module:
    """A backbone from a name or ``{"class_path": ..., "init_args": {...}}``.

    A name is a timm model name (``TimmBackbone``; ``pretrained``/``weights_file`` apply to these only) or the
    short name of a declared backbone (``set_named_backbones``; a timm model of the same name wins), built with no
    arguments. A ``class_path`` is a declared short name or ``"pkg.mod.Class"``, any ``nn.Module`` class that
    satisfies ``Backbone``, built with ``init_args`` (which also carry its weights, if it loads any).
    """
    if isinstance(spec, str):
        if _is_timm_model(spec):
            return TimmBackbone(spec, pretrained, image_size, weights_file=weights_file)
        if spec not in _named():
            raise ValueError(
                f"unknown backbone {spec!r}: neither a timm model (see timm.list_models()) {_declared_hint()}"
            )
        spec = {"class_path": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("class_path"), str):
        expected = "a timm model name, a declared backbone name or {'class_path': ..., 'init_args': {...}}"
        raise ValueError(f"backbone must be {expected}, got {spec!r}")
    unknown = set(spec) - {"class_path", "init_args"}
    if unknown:
        raise ValueError(f"backbone {spec['class_path']}: unknown keys {sorted(unknown)} (class_path, init_args)")
    path = spec["class_path"]
    if pretrained or weights_file is not None:
        raise ValueError(
            f"backbone {path}: backbone_pretrained and backbone_weights apply to timm model names only; "
            "pass any other backbone its weights through init_args"
        )
    backbone = _backbone_class(path)(**dict(spec.get("init_args") or {}))
    channels = getattr(backbone, "channels", None)
    valid = isinstance(channels, list) and channels and all(isinstance(c, int) and c > 0 for c in channels)
    if not isinstance(backbone, nn.Module) or not isinstance(backbone, Backbone) or not valid:
        raise TypeError(
            f"backbone {path}: a backbone must be an nn.Module with channels: list[int] (positive widths) and "
            f"forward(images) -> list of NCHW maps; got {type(backbone).__name__} with channels={channels!r}"
        )
    return backbone


def _is_timm_model(name: str) -> bool:
    return timm.is_model(name) or name in timm.list_models()


def _named() -> Mapping[str, BackboneFactory]:
    return _named_backbones() if _named_backbones is not None else {}


def _declared_hint() -> str:
    if _named_backbones is None:
        return (
            "nor a declared backbone: none are looked up yet (importing facexformer.plugins.backbones installs the "
            "look-up; FaceXFormer and the command lines do)"
        )
    names = ", ".join(sorted(_named_backbones())) or "none installed"
    return f"nor a declared backbone ({names}; see docs/plugins.md)"


def _backbone_class(path: str) -> BackboneFactory:
    """The class a ``class_path`` names: a declared short name, else ``"pkg.mod.Class"`` imported."""
    named = _named()
    if path in named:
        return named[path]
    module_name, _, class_name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(f"backbone class_path {path!r} cannot be imported: {err}") from err


class TimmBackbone(nn.Module):
    """Wraps ``timm.create_model(name, features_only=True)``; forward gives ``num_scales`` NCHW maps, finest first.

    Swin-like models emit NHWC maps: they are permuted here, the only place where layouts change. The last
    ``num_scales`` feature levels are used (e.g. strides 4, 8, 16, 32). ``channels`` lists their widths;
    ``mean`` and ``std`` are the RGB normalisation (inputs in [0, 1]) the timm model declares in its
    ``pretrained_cfg`` (ImageNet's for most, others for e.g. CLIP or Inception weights).

    ``pretrained``: False (random init), True (timm's pre-trained weights of ``name``: for
    ``swin_base_patch4_window7_224``, ImageNet-22k fine-tuned on 1k) or ``"torchvision:<WEIGHTS>"``: torchvision's
    weights of the same Swin v1 (``"torchvision:IMAGENET1K_V1"`` is what the released FaceXFormer started from),
    mapped by ``facexformer.model.torchvision_swin``. ``weights_file``: a local timm weights file (implies True).
    """

    def __init__(
        self,
        name: str = "swin_base_patch4_window7_224",
        pretrained: Pretrained = False,
        image_size: int = 224,
        num_scales: int = 4,
        weights_file: str | Path | None = None,
    ):
        super().__init__()
        kwargs: dict = {"features_only": True, "out_indices": tuple(range(-num_scales, 0))}
        torchvision_weights = _torchvision_weights(pretrained, weights_file)
        if torchvision_weights is not None:
            pretrained = False
        if weights_file is not None:
            if not Path(weights_file).is_file():
                raise FileNotFoundError(f"backbone weights_file {weights_file} does not exist")
            kwargs["pretrained_cfg_overlay"] = {"file": str(weights_file)}
            pretrained = True
        self.name = name
        self.body = self._create(name, bool(pretrained), image_size, kwargs)
        if torchvision_weights is not None:
            load_torchvision_swin(self.body, name, torchvision_weights)
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.reductions: list[int] = list(self.body.feature_info.reduction())
        self.channels_last = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        cfg = getattr(self.body, "pretrained_cfg", None) or {}
        self.mean: tuple[float, ...] = tuple(float(v) for v in cfg.get("mean", IMAGENET_DEFAULT_MEAN))
        self.std: tuple[float, ...] = tuple(float(v) for v in cfg.get("std", IMAGENET_DEFAULT_STD))

    @staticmethod
    def _create(name: str, pretrained: bool, image_size: int, kwargs: dict) -> nn.Module:
        if not _is_timm_model(name):
            raise ValueError(f"unknown timm model {name!r}; see timm.list_models()")
        try:
            try:
                return timm.create_model(name, pretrained=pretrained, img_size=image_size, **kwargs)
            except TypeError:  # CNNs take any input size and have no img_size argument
                return timm.create_model(name, pretrained=pretrained, **kwargs)
        except (OSError, RuntimeError) as err:
            if not pretrained:
                raise
            raise RuntimeError(_OFFLINE_HINT.format(name=name, err=err)) from err

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, S, S) normalised images -> list of (B, C_i, S/r_i, S/r_i) maps, finest first."""
        features = self.body(images)
        if self.channels_last:
            features = [f.permute(0, 3, 1, 2) for f in features]
        return features


def _torchvision_weights(pretrained: Pretrained, weights_file: str | Path | None) -> str | None:
    """``"IMAGENET1K_V1"`` for ``pretrained="torchvision:IMAGENET1K_V1"``; None for a bool."""
    if isinstance(pretrained, bool):
        return None
    if not isinstance(pretrained, str) or not pretrained.startswith(TORCHVISION_PREFIX):
        raise ValueError(
            f"backbone_pretrained must be true, false or 'torchvision:<WEIGHTS>' (e.g. 'torchvision:IMAGENET1K_V1'), "
            f"got {pretrained!r}"
        )
    if weights_file is not None:
        raise ValueError(f"backbone_pretrained {pretrained!r} and backbone_weights {weights_file} exclude each other")
    return pretrained.removeprefix(TORCHVISION_PREFIX)
