"""COFW test (507 faces), 29 points: NME under both normalisers, named (NME_io and NME_ip)."""

from facexformer.data.datasets import COFW
from facexformer.evaluation.protocol import Benchmark, register
from facexformer.evaluation.protocol_metrics import landmark_metrics

register(
    Benchmark(
        name="cofw",
        title="COFW (29 landmarks)",
        reader=COFW,
        subsets={"test": lambda root: COFW(root, "test")},
        metrics={"landmarks": landmark_metrics(["inter_ocular", "inter_pupil"], threshold=0.1)},
        definition="NME_io: normalised by the outer eye corners (points 8, 9; HRNet and mmpose); NME_ip: by the "
        "pupils (points 16, 17; STAR's tables). FR@0.1 and AUC@0.1 use the inter-ocular NME. The face crop is "
        "the model's own around COFW's box.",
        source="COFW (Burgos-Artizzu et al. 2013); HRNet lib/core/evaluation.py, STAR lib/metric. "
        "The FaceXFormer paper reports no COFW landmark number",
        layout=COFW.layout,
    )
)
