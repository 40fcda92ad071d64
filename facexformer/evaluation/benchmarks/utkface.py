"""UTKFace, CORAL's age protocol: ages 21-60, utk_test.csv; age MAE in years."""

from facexformer.data.datasets import UTKFace
from facexformer.evaluation.protocol import PAPER, Benchmark, Published, register
from facexformer.evaluation.protocol_metrics import own_metrics

register(
    Benchmark(
        name="utkface",
        title="UTKFace (age, CORAL 21-60)",
        reader=UTKFace,
        subsets={"test": lambda root: UTKFace(root, "test", protocol="coral")},
        metrics={"age": own_metrics},
        shown={"age": ("mae",)},
        definition="Mean absolute error in years of the expected age over the age bins, on the faces listed in "
        "CORAL's utk_test.csv (ages 21-60; whether the paper used this split is not stated).",
        source="UTKFace (Zhang et al. 2017); CORAL (Cao et al. 2020) split files",
        layout=UTKFace.layout,
        box="image",
        published={("test", "MAE_age"): (Published(4.17, "FaceXFormer", f"{PAPER} Table 4"),)},
    )
)
