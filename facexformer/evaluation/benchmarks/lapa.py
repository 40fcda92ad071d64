"""LaPa test: face parsing F1 per class and mean F1 over the 10 non-background classes."""

from facexformer.data.datasets import LaPa
from facexformer.evaluation.protocol import Benchmark, register
from facexformer.evaluation.protocol_metrics import own_metrics

register(
    Benchmark(
        name="lapa",
        title="LaPa (face parsing)",
        reader=LaPa,
        subsets={"test": lambda root: LaPa(root, "test")},
        metrics={"parsing": own_metrics},
        definition="F1 per class from pixel counts pooled over the test set (SegFace inference.py); mean F1 over "
        "the 10 non-background classes (hair included). The face crop is the model's own around the tight box "
        "of LaPa's 106 landmarks; labels outside the crop are not scored.",
        source="LaPa (Liu et al. 2020); SegFace inference.py. The FaceXFormer paper reports no LaPa number",
        layout=LaPa.layout,
    )
)
