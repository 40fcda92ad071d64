"""AFLW-19 (HRNet's split): full test (4,386) and frontal (1,314); NME normalised by the face box size."""

from facexformer.data.datasets import AFLW19
from facexformer.evaluation.protocol import Benchmark, register
from facexformer.evaluation.protocol_metrics import landmark_metrics

register(
    Benchmark(
        name="aflw",
        title="AFLW-19 (19 landmarks)",
        reader=AFLW19,
        subsets={"full": lambda root: AFLW19(root, "test"), "frontal": lambda root: AFLW19(root, "frontal")},
        metrics={"landmarks": landmark_metrics(["bbox"], threshold=0.07)},
        definition="NME_box: per-face mean point error / the csv's box_size (HRNet; mmpose's bbox_size), "
        "averaged over faces; FR@0.07 and AUC@0.07 of the same errors. The face crop is the model's own around "
        "the csv's box.",
        source="AFLW (Koestinger et al. 2011), 19-point protocol of HRNet (Wang et al. 2020). "
        "The FaceXFormer paper reports no AFLW number",
        layout=AFLW19.layout,
    )
)
