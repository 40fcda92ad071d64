"""Softmax of bf16/fp16 inputs on CPU through torch's float32-output kernel: the same result, faster.

``nn.Softmax`` computes in float32 inside and rounds the result once; so do these, but torch's CPU kernel with
a reduced-precision output is slower than the one with a float32 output on short rows (49 in Swin's windows,
18 in the folded decoder attention). Float32 inputs and other devices run torch's softmax unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

LOW_PRECISION = (torch.float16, torch.bfloat16)


def softmax_last_dim(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim of ``x``, in ``x``'s dtype."""
    if x.device.type != "cpu" or x.dtype not in LOW_PRECISION:
        return x.softmax(-1)
    return x.softmax(-1, dtype=torch.float32).to(x.dtype)


class SoftmaxInFloat32(nn.Softmax):
    """``nn.Softmax`` that, on CPU, computes bf16/fp16 inputs with a float32 output and rounds it once."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.device.type != "cpu" or input.dtype not in LOW_PRECISION:
            return super().forward(input)
        return input.softmax(self.dim, dtype=torch.float32).to(input.dtype)
