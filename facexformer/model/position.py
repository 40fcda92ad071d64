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
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def forward(self, height: int, width: int) -> torch.Tensor:
        """Grid size -> (1, 2·num_features, height, width) float32 encoding.

        The result depends only on the grid size and the matrix, so it is kept until either changes (the
        key includes the matrix's storage, device and version counter, which loading weights bumps).
        """
        matrix = self.gaussian_matrix
        try:
            version = matrix._version
        except RuntimeError:  # made under inference_mode: no version counter to tell a reload, so no cache
            with torch.autocast(matrix.device.type, enabled=False):
                return self._encode(height, width, matrix.device)
        key = (height, width, matrix.device, matrix.data_ptr(), version)
        if self._cache is None or self._cache[0] != key:
            # a normal tensor even under inference_mode, so a later training step may use it
            with torch.inference_mode(False), torch.no_grad(), torch.autocast(matrix.device.type, enabled=False):
                self._cache = (key, self._encode(height, width, matrix.device))
        return self._cache[1]

    def _encode(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
        x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
        grid = torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)  # (h, w, 2) as (x, y)
        angles = 2 * math.pi * ((2 * grid - 1) @ self.gaussian_matrix.float())
        return torch.cat([angles.sin(), angles.cos()], dim=-1).permute(2, 0, 1).unsqueeze(0)
