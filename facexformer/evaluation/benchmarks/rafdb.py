"""RAF-DB basic test set (3,068 faces): expression accuracy."""

from facexformer.data.datasets import RAFDB
from facexformer.evaluation.protocol import PAPER, Benchmark, Published, register
from facexformer.evaluation.protocol_metrics import own_metrics

register(
    Benchmark(
        name="rafdb",
        title="RAF-DB (expression)",
        reader=RAFDB,
        subsets={"test": lambda root: RAFDB(root, "test")},
        metrics={"expression": own_metrics},
        definition="Overall top-1 accuracy on the basic test images (not the mean per-class accuracy).",
        source="RAF-DB (Li et al. 2017), basic/EmoLabel/list_patition_label.txt",
        layout=RAFDB.layout,
        published={("test", "accuracy"): (Published(88.24, "FaceXFormer", f"{PAPER} Table 4"),)},
    )
)
