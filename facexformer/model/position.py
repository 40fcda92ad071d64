"""Random Fourier positional encoding of a 2-D grid (the released model's ``pe_layer``)."""

from __future__ import annotations

import math

import torch

from facexformer.model.precision import Float32Module


class RandomFourierPositionEncoding(Float32Module):
    """PE[:, r, c] = [sin(2π p·G), cos(2π p·G)] with p = (2x-1, 2y-1), x = (c+0.5)/w, y = (r+0.5)/h.

    ``gaussian_matrix`` (2, num_features) is drawn at construction and saved with the model: the released
    weights carry their own and must be loaded. The matrix stays float32 when the model is cast to bf16 or
    fp16 (rounding it to bf16 would move the angles by up to ~0.04 rad), and the encoding is computed in float32.
    """

    def __init__(self, num_features: int = 128, scale: float = 1.0):
        super().__init__()
        self.register_buffer("gaussian_matrix", scale * torch.randn(2, num_features))

    def forward(self, height: int, width: int) -> torch.Tensor:
        """Grid size -> (1, 2·num_features, height, width) float32 encoding."""
        with torch.autocast(self.gaussian_matrix.device.type, enabled=False):
            return self.encode(height, width)

    def encode(self, height: int, width: int) -> torch.Tensor:
        """The encoding of a ``height`` x ``width`` grid (autocast must be off)."""
        device = self.gaussian_matrix.device
        y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
        x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
        grid = torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)  # (h, w, 2) as (x, y)
        angles = 2 * math.pi * ((2 * grid - 1) @ self.gaussian_matrix.float())
        return torch.cat([angles.sin(), angles.cos()], dim=-1).permute(2, 0, 1).unsqueeze(0)
