"""Float32 islands in a model cast to bfloat16 or float16 (``model.to(torch.bfloat16)``, ``model.half()``).

A few values lose too much in 8- or 11-bit mantissas: the positional encoding's random frequencies (an angle
error of ~0.04 rad at bf16), the head-pose angles (~0.3° at bf16). Modules holding them derive from
:class:`Float32Module`: casting the model to a lower precision leaves their own tensors in float32 (device
moves still apply), and their ``forward`` casts inputs up with autocast off.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

LOW_PRECISION = (torch.float16, torch.bfloat16)


def keep_float32(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap an ``nn.Module._apply`` function so that float32 tensors are not lowered to fp16/bf16."""

    def apply(tensor: torch.Tensor) -> torch.Tensor:
        out = fn(tensor)
        if tensor.dtype == torch.float32 and out.dtype in LOW_PRECISION:
            return tensor.to(device=out.device)
        return out

    return apply


class Float32Module(nn.Module):
    """Base class: this module's parameters and buffers (and its children's) stay float32 when the model is
    cast to float16 or bfloat16. Subclasses compute in float32: inputs cast up, autocast off."""

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> Float32Module:
        return super()._apply(keep_float32(fn), recurse)


def compute_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of ``module``'s first floating parameter (float32 for a module without one)."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.float32
