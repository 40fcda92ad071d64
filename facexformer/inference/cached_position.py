"""The positional encoding kept between calls: it depends only on the grid size and the weights."""

from __future__ import annotations

import torch

from facexformer.model.position import RandomFourierPositionEncoding


class CachedPositionEncoding(RandomFourierPositionEncoding):
    """``RandomFourierPositionEncoding`` that keeps its last result until the grid size or the matrix changes
    (the key includes the matrix's storage, device and version counter, which loading weights bumps)."""

    _cache: tuple[tuple, torch.Tensor] | None = None

    def forward(self, height: int, width: int) -> torch.Tensor:
        """Grid size -> (1, 2·num_features, height, width) float32 encoding."""
        matrix = self.gaussian_matrix
        try:
            version = matrix._version
        except RuntimeError:  # made under inference_mode: no version counter to tell a reload, so no cache
            return super().forward(height, width)
        key = (height, width, matrix.device, matrix.data_ptr(), version)
        if self._cache is None or self._cache[0] != key:
            # a normal tensor even under inference_mode, so that a later call outside it may use it
            with torch.inference_mode(False), torch.no_grad():
                self._cache = (key, super().forward(height, width))
        return self._cache[1]
