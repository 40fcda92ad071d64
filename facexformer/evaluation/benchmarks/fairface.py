"""FairFace validation set: age-group, gender and race accuracy over all faces."""

from facexformer.data.datasets import FairFace
from facexformer.evaluation.protocol import Benchmark, register
from facexformer.evaluation.protocol_metrics import own_metrics

register(
    Benchmark(
        name="fairface",
        title="FairFace (age group, gender, race)",
        reader=FairFace,
        subsets={"val": lambda root: FairFace(root, "val")},
        metrics={"age": own_metrics, "gender": own_metrics, "race": own_metrics},
        shown={"age": ("group_accuracy",)},
        definition="Top-1 accuracy over all validation faces of the age group (8 decade bins; 0-2 and 3-9 "
        "merged), gender and race (7 races mapped to 5). The paper's Table 8 averages per race group instead "
        "(age 59.34, gender 95.22), a different number, so it is not printed beside these.",
        source="FairFace (Karkkainen and Joo 2021), fairface_label_val.csv",
        layout=FairFace.layout,
        box="image",
    )
)
