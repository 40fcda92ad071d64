"""Backbones by short name: the ones installed packages declare under ``facexformer_backbones`` (this package's
built-in ones included), installed into ``facexformer.model.backbone.build_backbone`` when this module is
imported. ``facexformer.io.class_paths`` imports it, so every way of building a ``FaceXFormer`` (the Python
class, ``from_pretrained``, the command lines) resolves them: ``backbone: tiny_conv`` or
``backbone: {class_path: tiny_conv, init_args: {...}}``. Unlike the registry this module imports the model
layer (torch and timm): import ``facexformer.plugins`` alone for the cheap metadata."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from facexformer.model.backbone import BackboneFactory, set_named_backbones
from facexformer.plugins.registry import declared, load_declared


def backbone_names() -> tuple[str, ...]:
    """The short names declared under ``facexformer_backbones``; nothing is imported."""
    return tuple(dict.fromkeys(entry.name for entry in declared("backbones")))


@functools.cache
def declared_backbones() -> Mapping[str, BackboneFactory]:
    """Short name -> class of every declared backbone, loaded at the first call (a broken one is left out with a
    warning, see ``load_declared``); ``declared_backbones.cache_clear()`` (with ``declared.cache_clear()``)
    re-reads them."""
    return load_declared("backbones")


set_named_backbones(declared_backbones)
