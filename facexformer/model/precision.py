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


def softmax_last_dim(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim in ``x``'s dtype; bf16/fp16 on CPU through the faster float32-output kernel
    (see ``SoftmaxInFloat32``)."""
    if x.device.type != "cpu" or x.dtype not in LOW_PRECISION:
        return x.softmax(-1)
    return x.softmax(-1, dtype=torch.float32).to(x.dtype)


class SoftmaxInFloat32(nn.Softmax):
    """``nn.Softmax`` that, on CPU, computes bf16/fp16 inputs with a float32 output and rounds it once.

    ``nn.Softmax`` computes in float32 inside and rounds once too, but torch's CPU kernel with a
    reduced-precision output is about 1.4x slower than the float32-output one on short rows (49 in Swin's
    windows; ~3% of Swin-B's bf16 time). Anything else (float32, GPUs) runs ``nn.Softmax`` itself.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.device.type != "cpu" or input.dtype not in LOW_PRECISION:
            return super().forward(input)
        return input.softmax(self.dim, dtype=torch.float32).to(input.dtype)


def compute_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of ``module``'s first floating parameter (float32 for a module without one)."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.float32
