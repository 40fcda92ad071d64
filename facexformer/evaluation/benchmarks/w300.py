"""300W: common (Helen + LFPW test, 554), challenge (iBUG, 135), full (689); 68 points, inter-ocular NME."""

from facexformer.data.datasets import W300
from facexformer.evaluation.protocol import PAPER, Benchmark, Published, register
from facexformer.evaluation.protocol_metrics import landmark_metrics

TABLE = f"{PAPER} Table 5"

register(
    Benchmark(
        name="300w",
        title="300W (68 landmarks)",
        reader=W300,
        subsets={split: (lambda root, split=split: W300(root, split)) for split in ("common", "challenge", "full")},
        metrics={"landmarks": landmark_metrics(["inter_ocular"], threshold=0.08)},
        definition="NME_io: per-face mean point error / distance of the outer eye corners (points 36, 45), "
        "averaged over faces; FR@0.08 and AUC@0.08 of the CED (STAR's grid, step 1e-4). The face crop is the "
        "model's own around the tight box of the 68 points (300W ships no detector boxes).",
        source="300W (Sagonas et al. 2013); NME/FR/AUC as STAR (ZhenglinZhou/STAR lib/metric) and HRNet compute them",
        layout=W300.layout,
        published={
            ("common", "NME_io"): (Published(2.66, "FaceXFormer", TABLE),),
            ("challenge", "NME_io"): (Published(4.67, "FaceXFormer", TABLE),),
            ("full", "NME_io"): (Published(3.05, "FaceXFormer", TABLE),),
        },
    )
)
