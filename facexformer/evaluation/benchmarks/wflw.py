"""WFLW: test (2,500 faces) and its six attribute subsets; 98 points, inter-ocular NME, FR and AUC at 0.1."""

from facexformer.data.datasets import WFLW
from facexformer.data.datasets.wflw import ATTRIBUTES
from facexformer.evaluation.protocol import Benchmark, register
from facexformer.evaluation.protocol_metrics import landmark_metrics

register(
    Benchmark(
        name="wflw",
        title="WFLW (98 landmarks)",
        reader=WFLW,
        subsets={
            "test": lambda root: WFLW(root, "test"),
            **{name: (lambda root, name=name: WFLW(root, "test", subset=name)) for name in ATTRIBUTES},
        },
        metrics={"landmarks": landmark_metrics(["inter_ocular"], threshold=0.1)},
        definition="NME_io: per-face mean point error / distance of the outer eye corners (points 60, 72); "
        "FR@0.1 and AUC@0.1 (STAR's grid). Subsets by the annotation line's six flags (pose = largepose). "
        "The face crop is the model's own around WFLW's detector rectangle.",
        source="WFLW (Wu et al. 2018); STAR lib/metric. The FaceXFormer paper reports no WFLW number",
        layout=WFLW.layout,
    )
)
