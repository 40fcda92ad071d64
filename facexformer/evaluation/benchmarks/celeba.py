"""CelebA test (19,962 aligned faces): mean accuracy over the 40 attributes."""

from facexformer.data.datasets import CelebA
from facexformer.evaluation.protocol import PAPER, Benchmark, Published, register
from facexformer.evaluation.protocol_metrics import own_metrics

register(
    Benchmark(
        name="celeba",
        title="CelebA (40 attributes)",
        reader=CelebA,
        subsets={"test": lambda root: CelebA(root, "test")},
        metrics={"attributes": own_metrics},
        definition="Mean over the 40 attributes of the per-attribute accuracy (probability >= 0.5 is present) "
        "on the aligned test images (the whole image is the face box).",
        source="CelebA (Liu et al. 2015), list_eval_partition.txt split 2",
        layout=CelebA.layout,
        box="image",
        published={("test", "accuracy"): (Published(91.83, "FaceXFormer", f"{PAPER} Table 5"),)},
    )
)
