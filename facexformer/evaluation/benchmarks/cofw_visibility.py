"""COFW test (507 faces x 29 points): occlusion recall at 80% precision."""

from facexformer.data.datasets import COFW
from facexformer.evaluation.protocol import PAPER, Benchmark, Published, register
from facexformer.evaluation.protocol_metrics import own_metrics

TABLE = f"{PAPER} Table 4"

register(
    Benchmark(
        name="cofw_visibility",
        title="COFW (occlusion)",
        reader=COFW,
        subsets={"test": lambda root: COFW(root, "test")},
        metrics={"visibility": own_metrics},
        shown={"visibility": ("recall_at_precision",)},
        definition="Occluded = positive; every point of every face pooled; the highest recall among the "
        "thresholds on P(occluded) whose precision is at least 80% (inferred from RCPR practice).",
        source="COFW (Burgos-Artizzu et al. 2013); the occlusion-detection literature's protocol",
        layout=COFW.layout,
        published={
            ("test", "recall@80%precision"): (
                Published(72.56, "FaceXFormer", TABLE),
                Published(72.12, "MNN", TABLE, role="specialist"),
            )
        },
    )
)
