"""``Smiling``: is the face smiling? A two-class task in one file, declared by entry point.

Its label ``smiling`` (int64, 0 or 1) is read from a dataset (``SmileCSV``), or derived from an ``expression``
label (1 where the expression is happiness), which is how the built-in synthetic faces paint it: listing
``expression`` among the task's labels and deriving ``smiling`` from it is all it takes for ``SyntheticFaces``
to train it, with no edit in facexformer.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from facexformer.tasks import ClassificationTask, Label

HAPPINESS = 1  # the shared expression order's id of happiness (facexformer.tasks.expression)


def smiling_from_expression(sample: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """1 where the sample's expression is happiness, else 0; -1 (no label) where the expression is unknown."""
    expression = sample["expression"]
    return torch.where(expression < 0, -1, (expression == HAPPINESS).long())


class Smiling(ClassificationTask):
    """Output (B, 2) logits: not smiling, smiling. Cross-entropy and accuracy come from ``ClassificationTask``."""

    name = "smiling"
    num_expressions = 7  # the expression ids it derives from (the shared order of facexformer.tasks.expression)
    labels = (
        Label("expression", "class", classes="num_expressions"),
        Label("smiling", "class", derive=smiling_from_expression),
    )
    class_names = ("not smiling", "smiling")
