"""torchvision's Swin Transformer (v1) weights on the timm Swin backbone: the key mapping and the ImageNet loader.

The released FaceXFormer was built on torchvision's ``swin_b(weights="IMAGENET1K_V1")`` (ImageNet-1k); timm's
``swin_base_patch4_window7_224`` tag is ImageNet-22k pre-training fine-tuned on 1k, a different start.
``torchvision_to_timm_key`` renames one torchvision ``features.*`` key to the timm ``features_only`` model's key
(patch merging moves to the next stage, ``mlp.0``/``mlp.3`` become ``mlp.fc1``/``fc2``); the released-checkpoint
converter (``facexformer.io.released``) uses the same table. The tensors themselves need no change: both
implementations order the 2x2 patch-merging concatenation and the relative-position table the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch
from torch import nn

#: timm Swin v1 name -> torchvision builder with the same architecture
TORCHVISION_SWIN = {
    "swin_tiny_patch4_window7_224": "swin_t",
    "swin_small_patch4_window7_224": "swin_s",
    "swin_base_patch4_window7_224": "swin_b",
}
TORCHVISION_PREFIX = "torchvision:"

_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^features\.0\.0\.(.*)$"), lambda m: f"patch_embed.proj.{m[1]}"),
    (re.compile(r"^features\.0\.2\.(.*)$"), lambda m: f"patch_embed.norm.{m[1]}"),
    (
        re.compile(r"^features\.([1357])\.(\d+)\.(.*)$"),
        lambda m: (
            f"layers_{(int(m[1]) - 1) // 2}.blocks.{m[2]}."
            + m[3].replace("mlp.0.", "mlp.fc1.").replace("mlp.3.", "mlp.fc2.")
        ),
    ),
    (re.compile(r"^features\.([246])\.(.*)$"), lambda m: f"layers_{int(m[1]) // 2}.downsample.{m[2]}"),
]
# keys with no counterpart in the feature extractor: recomputed index buffers, the final norm and the classifier
_DROPPED = re.compile(r"(relative_position_index$|^norm\.|^head\.)")


def torchvision_to_timm_key(key: str) -> str | None:
    """A torchvision Swin v1 key (``features.1.0.attn.qkv.weight``) -> the timm ``features_only`` key
    (``layers_0.blocks.0.attn.qkv.weight``); None for a key the feature extractor has no use for."""
    if _DROPPED.search(key):
        return None
    for pattern, rename in _RULES:
        match = pattern.match(key)
        if match:
            return rename(match)
    raise KeyError(f"torchvision Swin key {key!r} matches no conversion rule")


def convert_torchvision_swin(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision Swin v1 state dict -> the timm ``features_only`` Swin's (the classifier dropped)."""
    converted = {}
    for key, value in state.items():
        ours = torchvision_to_timm_key(key)
        if ours is not None:
            converted[ours] = value
    return converted


def load_torchvision_swin(body: nn.Module, timm_name: str, weights: str) -> None:
    """Load torchvision's ``weights`` (e.g. ``"IMAGENET1K_V1"``) of the Swin matching ``timm_name`` into
    ``body``, a timm ``features_only`` Swin; every tensor of ``body`` must be covered.

    torchvision downloads the file once into ``torch.hub.get_dir()/checkpoints``; offline, a ``RuntimeError``
    says which file to fetch and where to put it.
    """
    import torchvision

    builder = TORCHVISION_SWIN.get(timm_name)
    if builder is None:
        raise ValueError(
            f"backbone_pretrained 'torchvision:{weights}' needs a Swin v1 backbone torchvision also has "
            f"({', '.join(TORCHVISION_SWIN)}), got {timm_name!r}"
        )
    enum = torchvision.models.get_model_weights(builder)
    try:
        chosen = enum[weights]
    except KeyError:
        raise ValueError(
            f"torchvision {builder} has no weights {weights!r}; choose one of {[w.name for w in enum]}"
        ) from None
    try:
        state = chosen.get_state_dict(progress=False)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        file = chosen.url.rsplit("/", 1)[-1]
        raise RuntimeError(
            f"could not load torchvision {builder} {weights} weights: {err}\nThis machine cannot download them. "
            f"Download {chosen.url} elsewhere and put it at {torch.hub.get_dir()}/checkpoints/{file} "
            "(torch.hub's cache; set $TORCH_HOME to move it), or build with backbone_pretrained false"
        ) from err
    body.load_state_dict(convert_torchvision_swin(state), strict=True)
