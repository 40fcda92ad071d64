"""The released FaceXFormer file (HF ``kartiknarayan/facexformer``, ``ckpts/model.pt``) and its key renaming.

The file holds ``{"state_dict_backbone": <whole model>}`` with torchvision ``swin_b`` keys.
``convert_released_state_dict`` renames it to this package's layout (timm Swin, ``FaceXFormerNet``) with one
regex table, like timm's ``checkpoint_filter_fn``: a pure function, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from facexformer.model.torchvision_swin import torchvision_to_timm_key
from facexformer.tasks import RELEASED_TASKS, TASKS, Task

RELEASED_KEY = "state_dict_backbone"
#: HF Hub ids whose weights are a released FaceXFormer file (repo id -> file in the repo)
RELEASED_HUB_FILES = {"kartiknarayan/facexformer": "ckpts/model.pt"}
#: size and SHA-256 of the published ``ckpts/model.pt`` (Hub revision ``fd12148d0b19``): the Git-LFS pointer's
#: values, as several independent reproductions record them; a file matching both is opened in full
RELEASED_SIZE = 1_104_869_851
RELEASED_SHA256 = "327a755849ba64d336fb96589ff87b27e84a12be1ecf8bcfaa503d66f803286d"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: constructor arguments of the released architecture (Swin-B at 224 px, ImageNet normalisation)
RELEASED_CONFIG: dict[str, Any] = {
    "tasks": list(RELEASED_TASKS),
    "backbone": "swin_base_patch4_window7_224",
    "image_size": 224,
    "dim": 256,
    "decoder_depth": 2,
    "decoder_mlp_dim": 2048,
    "decoder_heads": 8,
    "pixel_mean": list(IMAGENET_MEAN),
    "pixel_std": list(IMAGENET_STD),
}

# released key pattern -> our key; the backbone (``backbone.0`` = torchvision Swin ``features``) goes through
# torchvision_to_timm_key, the mapping torchvision's ImageNet weights use too
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^linear_c\.(\d+)\.proj\.(.*)$"), lambda m: f"fusion.proj.{m[1]}.{m[2]}"),
    (re.compile(r"^linear_fuse\.weight$"), lambda m: "fusion.fuse.weight"),
    (re.compile(r"^pe_layer\.positional_encoding_gaussian_matrix$"), lambda m: "position.gaussian_matrix"),
    (re.compile(r"^face_decoder\.transformer\.(.*)$"), lambda m: f"decoder.{m[1]}"),
]
_BACKBONE = "backbone.0."
# released keys with no counterpart: the backbone's unused final norm (the rest are torchvision_to_timm_key's)
_DROPPED = re.compile(r"^backbone\.1\.")


def convert_released_state_dict(state: dict[str, torch.Tensor], tasks: Sequence[Task]) -> dict[str, torch.Tensor]:
    """Released FaceXFormer keys -> ``FaceXFormerNet`` keys for the given tasks.

    Released tasks that are not configured are dropped; a key that no rule knows raises ``KeyError``.
    """
    rules = list(_RULES)
    for task in tasks:
        for official, ours in task.released_prefixes.items():
            rules.append((re.compile("^" + re.escape(official) + "(.*)$"), lambda m, ours=ours: ours + m[1]))
    known_released = tuple(p for cls in TASKS.values() for p in cls.released_prefixes)
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if _DROPPED.search(key):
            continue
        if key.startswith(_BACKBONE):
            body_key = torchvision_to_timm_key("features." + key.removeprefix(_BACKBONE))
            if body_key is not None:
                converted["backbone.body." + body_key] = value
            continue
        for pattern, rename in rules:
            match = pattern.match(key)
            if match:
                converted[rename(match)] = value
                break
        else:
            if not key.startswith(known_released):
                raise KeyError(f"released checkpoint key {key!r} matches no conversion rule")
    return converted
