"""FLOP counts of whatever a function runs (matmuls, convolutions, attention), counted by torch itself."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def _packed_linear_flops(x_shape: torch.Size, *args: object, out_shape: torch.Size, **kwargs: object) -> int:
    """oneDNN's packed linear (``OneDnnLinear`` in inference): 2 FLOP per output value and input feature."""
    return 2 * math.prod(out_shape) * x_shape[-1]


def count_flops(fn: Callable[[], object]) -> int:
    """FLOP of one call of ``fn`` (a multiply-add counts 2), as ``torch.utils.flop_counter`` counts them, plus
    oneDNN's packed linear layers, which torch's table lacks.

    Elementwise work (norms, activations, softmax) is not counted: for transformers it is a few percent.
    Backward passes run inside ``fn`` are counted too (about twice the forward).
    """
    mapping = {torch.ops.mkldnn._linear_pointwise: _packed_linear_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return int(counter.get_total_flops())
