"""Task heads: an MLP on a task token, and the parsing head (hypernetwork tokens x upscaled face tokens)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from facexformer.model.precision import Float32Module


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (none after the last)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 3):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) -> (..., out_dim)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class TokenHead(nn.Module):
    """The released heads: a 3-layer MLP on the task's tokens, reshaped to ``out_shape`` per sample.

    forward(tokens (B, T, dim), image (B, dim, h, w)) -> (B, *out_shape); the image is not used.
    """

    def __init__(self, dim: int, out_shape: Sequence[int], num_tokens: int = 1, hidden_dim: int | None = None):
        super().__init__()
        self.out_shape = tuple(out_shape)
        out_dim = 1
        for n in self.out_shape:
            out_dim *= n
        if out_dim % num_tokens:
            raise ValueError(f"{out_dim} outputs cannot be split over {num_tokens} tokens")
        self.mlp = MLP(dim, hidden_dim or dim, out_dim // num_tokens)

    def forward(self, tokens: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.mlp(tokens).reshape(tokens.shape[0], *self.out_shape)


class Float32TokenHead(Float32Module, TokenHead):
    """A ``TokenHead`` whose weights stay float32 in a model cast to bf16/fp16, computing in float32 with
    autocast off (head pose: bf16 would round the angles to ~0.3°). Same parameters, so the same weights load.
    """

    def forward(self, tokens: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(tokens.device.type, enabled=False):
            return super().forward(tokens.float(), image)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, at every pixel."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class HypernetworkMaps(nn.Module):
    """The parsing head's block, shared with the landmark heatmap head: the face tokens upscaled by two steps
    (transposed 2x2 convolutions with stride 2, as released), and a hypernetwork MLP that maps each task token
    to ``up_channels[-1]`` weights; each token's map is its weights dotted with every upscaled pixel.

    ``upscale`` (4, 2 or 1): how many of the two steps double the resolution; a step that does not is a 1x1
    convolution instead (same layer layout, so cheaper heads keep the released structure and names).
    """

    def __init__(self, dim: int = 256, up_channels: tuple[int, int] = (64, 32), upscale: int = 4):
        super().__init__()
        if upscale not in (1, 2, 4):
            raise ValueError(f"{type(self).__name__}: upscale must be 1, 2 or 4, got {upscale}")
        c1, c2 = up_channels
        self.upscaling = nn.Sequential(
            _upscaling_step(dim, c1, upscale >= 2),
            LayerNorm2d(c1),
            nn.GELU(),
            _upscaling_step(c1, c2, upscale == 4),
            nn.GELU(),
        )
        self.hypernetwork = MLP(dim, dim, c2)

    def upscale(self, image: torch.Tensor) -> torch.Tensor:
        """Face tokens (B, dim, h, w) -> features (B, up_channels[-1], upscale·h, upscale·w)."""
        return self.upscaling(image)

    def project(self, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Tokens (B, K, dim) and features (B, C, H, W) -> one map per token (B, K, H, W).

        ``flatten`` is a view in both memory formats (the face tokens come channels-last).
        """
        b, _, h, w = features.shape
        return torch.bmm(self.hypernetwork(tokens), features.flatten(2)).view(b, -1, h, w)


class ParsingHead(HypernetworkMaps):
    """Per-class masks: the hypernetwork maps of the class tokens at the upscaled resolution.

    forward(tokens (B, K, dim), image (B, dim, h, w)) -> logits (B, K, upscale·h, upscale·w).
    """

    def forward(self, tokens: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.project(tokens, self.upscale(image))


def _upscaling_step(in_channels: int, out_channels: int, double: bool) -> nn.Module:
    if double:
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
    return nn.Conv2d(in_channels, out_channels, kernel_size=1)
