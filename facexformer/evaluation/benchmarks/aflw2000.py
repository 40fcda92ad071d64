"""AFLW2000-3D: head pose (pitch, yaw, roll) MAE in degrees, faces with every |angle| <= 99 degrees."""

from facexformer.data.datasets import AFLW2000
from facexformer.evaluation.protocol import Benchmark, register
from facexformer.evaluation.protocol_metrics import pose_metrics

register(
    Benchmark(
        name="aflw2000",
        title="AFLW2000-3D (head pose)",
        reader=AFLW2000,
        subsets={"test": lambda root: AFLW2000(root)},
        metrics={"headpose": pose_metrics("plain")},
        definition="MAE per angle in degrees (|pred - gt| on the canonical Euler branch, the paper's rule) and "
        "their mean; faces whose |pitch|, |yaw| or |roll| exceeds 99 degrees are left out (6DRepNet). "
        "The face crop is the model's own around the tight box of the 68 pt2d points.",
        source="AFLW2000-3D (Zhu et al. 2016); 6DRepNet test.py. The FaceXFormer paper reports no AFLW2000 number",
        layout=AFLW2000.layout,
    )
)
