"""Facial expression: a task the released checkpoint does not have (its token and head start untrained)."""

from __future__ import annotations

from facexformer.tasks.classification import ClassificationTask
from facexformer.tasks.label import Label

#: the shared expression order (AffectNet's ids 0-7); RAF-DB and AffectNet labels are mapped to it
EXPRESSION_NAMES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")


class Expression(ClassificationTask):
    """Output (B, 7) logits in the shared order below (AffectNet's ids 0-6; ``num_classes=8`` adds contempt)."""

    name = "expression"
    labels = (Label("expression", "class"),)
    class_names = EXPRESSION_NAMES[:7]
