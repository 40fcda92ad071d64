"""FLOP counts of whatever a function runs (matmuls, convolutions, attention), counted by torch itself."""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], object]) -> int:
    """FLOP of one call of ``fn`` (a multiply-add counts 2), as ``torch.utils.flop_counter`` counts them.

    Elementwise work (norms, activations, softmax) is not counted: for transformers it is a few percent.
    Backward passes run inside ``fn`` are counted too (about twice the forward).
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
