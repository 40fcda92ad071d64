"""BIWI (FSA-Net's BIWI_noTrack.npz): head pose MAE in degrees, the paper's rule and 6DRepNet's."""

from facexformer.data.datasets import BIWI
from facexformer.evaluation.protocol import PAPER, Benchmark, Published, register
from facexformer.evaluation.protocol_metrics import pose_metrics

TABLE = f"{PAPER} Table 5"

register(
    Benchmark(
        name="biwi",
        title="BIWI (head pose)",
        reader=BIWI,
        subsets={"test": lambda root: BIWI(root)},
        metrics={"headpose": pose_metrics("plain")},
        definition="MAE per angle in degrees, |pred - gt| on the canonical Euler branch (the paper's rule), and "
        "their mean, over every frame of FSA-Net's BIWI_noTrack.npz (already face crops: the box is the image).",
        source="BIWI Kinect Head Pose (Fanelli et al. 2013), FSA-Net's preprocessing; 6DRepNet test.py",
        layout=BIWI.layout,
        published={
            ("test", "MAE_yaw"): (Published(3.91, "FaceXFormer", TABLE),),
            ("test", "MAE_pitch"): (Published(3.97, "FaceXFormer", TABLE),),
            ("test", "MAE_roll"): (Published(2.67, "FaceXFormer", TABLE),),
            ("test", "MAE"): (Published(3.52, "FaceXFormer", TABLE),),
        },
    )
)
