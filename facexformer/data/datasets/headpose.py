"""Head-pose datasets: 300W-LP and AFLW2000 (.jpg + .mat), BIWI (preprocessed .npz).

Labels are ``headpose`` float32 (3,) degrees, (pitch, yaw, roll), R = Rz(roll) Ry(yaw) Rx(pitch)
(``facexformer.geometry``). The datasets do not crop. Recommended loose crops around the ``pt2d`` box
(6DRepNet; w, h = box size, each line uses the already enlarged w and h of the lines before it):

- 300W-LP training: k ~ U[0.2, 0.4]; x0 -= 0.6k·w, y0 -= 2k·h, x1 += 0.6k·w, y1 += 0.6k·h;
- AFLW2000 test: k = 0.2; x0 -= 2k·w, y0 -= 2k·h, x1 += 2k·w, y1 += 0.6k·h; then resize 256, centre crop 224.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch
from scipy.io.matlab import MatReadError

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    box_from_points,
    load_image,
    parse_records,
    whole_image_box,
)


def read_pose_mat(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(pitch, yaw, roll) float32 (3,) degrees and ``pt2d`` points float32 (N, 2) pixels from a 3DDFA .mat.

    ``Pose_Para`` is [pitch, yaw, roll, tdx, tdy, tdz, scale] with angles in radians; ``pt2d`` is (2, N).
    """
    try:
        mat = scipy.io.loadmat(str(path))
    except (MatReadError, NotImplementedError, OSError, ValueError, TypeError) as err:
        raise DatasetFormatError(f"{path}: cannot read .mat file ({err})") from err
    for key in ("Pose_Para", "pt2d"):
        if key not in mat:
            names = sorted(k for k in mat if not k.startswith("__"))
            raise DatasetFormatError(f"{path}: no '{key}' variable (has {names})")
    pose = np.asarray(mat["Pose_Para"], dtype=np.float64).ravel()
    points = np.asarray(mat["pt2d"], dtype=np.float64)
    if pose.size < 3 or not np.isfinite(pose[:3]).all():
        raise DatasetFormatError(f"{path}: Pose_Para {pose.tolist()} lacks 3 finite angles")
    if points.ndim != 2 or points.shape[0] != 2 or points.shape[1] == 0:
        raise DatasetFormatError(f"{path}: pt2d has shape {points.shape}, expected (2, N)")
    angles = torch.from_numpy(np.degrees(pose[:3])).float()
    return angles, torch.from_numpy(points.T.copy()).float()


@dataclass(frozen=True)
class _Pair:
    image: Path
    mat: Path


class _PoseMatDataset(FaceDataset):
    """A folder tree of ``<name>.jpg`` + ``<name>.mat`` pairs (a .mat without a .jpg beside it is ignored)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None,
        filename_list: str | Path | None,
        max_angle: float | None,
        skip_invalid: bool,
    ):
        super().__init__(root, split, transform, skip_invalid)
        if filename_list is not None:
            list_path = self.require(Path(filename_list))
            stems = [line.strip() for line in list_path.read_text().splitlines() if line.strip()]
            pairs = [_Pair(self.root / f"{stem}.jpg", self.root / f"{stem}.mat") for stem in stems]
            for pair in pairs:
                self.require(pair.image)
                self.require(pair.mat)
        else:
            mats = sorted(self.root.rglob("*.mat"), key=lambda p: p.relative_to(self.root).as_posix())
            pairs = [_Pair(mat.with_suffix(".jpg"), mat) for mat in mats if mat.with_suffix(".jpg").is_file()]
        self.records: list[_Pair] = self._select(pairs)
        self.max_angle = max_angle
        self.num_filtered = 0
        if max_angle is not None:
            kept = parse_records(self.records, self._within, lambda p: str(p.mat), skip_invalid, self.name)
            self.num_filtered = kept.count(None)
            self.records = [pair for pair in kept if pair is not None]

    def _select(self, pairs: list[_Pair]) -> list[_Pair]:
        return pairs

    def _within(self, pair: _Pair) -> _Pair | None:
        angles, _ = read_pose_mat(pair.mat)
        return pair if bool(angles.abs().max() <= self.max_angle) else None

    def load(self, index: int) -> Sample:
        pair = self.records[index]
        angles, points = read_pose_mat(pair.mat)
        return {
            "image": load_image(pair.image),
            "box": box_from_points(points),
            "tasks": ("headpose",),
            "source": str(pair.image),
            "headpose": angles,
        }


class W300LP(_PoseMatDataset):
    """300W-LP (3DDFA release): 122,450 synthesised large-pose faces; the standard head-pose training set.

    ``filename_list``: optional 6DRepNet-style text file of '<relative path without extension>' lines;
    otherwise every .jpg/.mat pair under root, sorted. ``include_flipped=False`` drops the ``*_Flip``
    folders. ``max_angle``: keep samples with |pitch|, |yaw|, |roll| <= max_angle degrees (off by default;
    when set, every .mat is read at construction; otherwise a bad .mat raises when its sample is loaded).
    Box = tight box of the 68 ``pt2d`` points.
    """

    splits = ("train",)
    name = "300W-LP"
    layout = """\
<root>/                                  e.g. 300W_LP/
  AFW/, HELEN/, IBUG/, LFPW/ and AFW_Flip/, ...   <name>.jpg + <name>.mat (Pose_Para, pt2d) beside it
  landmarks/, Code/                      (ignored: their .mat files have no .jpg beside them)
Download: http://www.cbsr.ia.ac.cn/users/xiangyuzhu/projects/3DDFA/main.htm (research use)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Transform | None = None,
        filename_list: str | Path | None = None,
        include_flipped: bool = True,
        max_angle: float | None = None,
        skip_invalid: bool = False,
    ):
        self.include_flipped = include_flipped
        super().__init__(root, split, transform, filename_list, max_angle, skip_invalid)

    def _select(self, pairs: list[_Pair]) -> list[_Pair]:
        if self.include_flipped:
            return pairs
        return [p for p in pairs if not any(part.endswith("_Flip") for part in p.image.parent.parts)]


class AFLW2000(_PoseMatDataset):
    """AFLW2000-3D: 2,000 test faces with 3DDFA pose; the first 2000 AFLW images.

    Filter (6DRepNet ``create_filename_list``): samples with any |angle| > ``max_angle`` = 99 degrees are
    dropped (count in ``num_filtered``; commonly 1,969 remain); ``max_angle=None`` keeps all.
    Box = tight box of the ``pt2d`` points (as 6DRepNet). A bad .mat raises naming the file, or is skipped
    with ``skip_invalid=True``.
    """

    splits = ("test",)
    name = "AFLW2000"
    layout = """\
<root>/                 e.g. AFLW2000/
  image00002.jpg, image00002.mat (Pose_Para, pt2d, pt3d_68, ...), ...
Download: http://www.cbsr.ia.ac.cn/users/xiangyuzhu/projects/3DDFA/main.htm (research use)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        transform: Transform | None = None,
        filename_list: str | Path | None = None,
        max_angle: float | None = 99.0,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, filename_list, max_angle, skip_invalid)


BIWI_LAYOUT = """\
<root>/BIWI_noTrack.npz   (split="test"; 'image' (N, H, W, 3) uint8 RGB face crops, 'pose' (N, 3) degrees
                           [yaw, pitch, roll]; FSA-Net's preprocessing of the Kinect Head Pose database)
<root>/BIWI_train.npz, BIWI_test.npz   (70/30 protocol: pass filename=...)
Source: https://github.com/shamangary/FSA-Net (data/TYY_create_db_biwi.py: MTCNN face crops, about 15.7k
frames) from the BIWI Kinect Head Pose database (https://icu.ee.ethz.ch/research/datsets.html, research use)."""


class BIWI(FaceDataset):
    """BIWI Kinect head pose in the common preprocessed .npz layout (FSA-Net / 6DRepNet).

    ``filename`` defaults to ``BIWI_noTrack.npz`` for split "test" and ``BIWI_train.npz`` for "train".
    The stored angles already follow the 300W-LP convention; they are reordered to (pitch, yaw, roll).
    The images are already face crops, so the box is the whole image. Non-finite poses raise naming the
    index, or are skipped with ``skip_invalid=True``. Colour order is taken as stored (RGB as in 6DRepNet).
    """

    name = "BIWI"
    layout = BIWI_LAYOUT
    splits = ("test", "train")

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        transform: Transform | None = None,
        filename: str | None = None,
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        default = "BIWI_noTrack.npz" if split == "test" else "BIWI_train.npz"
        self.path = self.require(self.root / (filename or default))
        try:
            with np.load(self.path, allow_pickle=False) as data:
                missing = [key for key in ("image", "pose") if key not in data.files]
                if missing:
                    raise DatasetFormatError(f"BIWI: {self.path} lacks array(s) {missing} (has {data.files})")
                images, poses = data["image"], data["pose"]
        except (OSError, ValueError) as err:
            raise DatasetFormatError(f"BIWI: cannot read {self.path} ({err})") from err
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            found = f"{images.dtype} {images.shape}"
            raise DatasetFormatError(f"BIWI: {self.path} 'image' is {found}, expected uint8 (N, H, W, 3)")
        if poses.shape != (len(images), 3):
            expected = (len(images), 3)
            raise DatasetFormatError(f"BIWI: {self.path} 'pose' has shape {poses.shape}, expected {expected}")
        self.images = images
        self.poses = poses.astype(np.float32)[:, [1, 0, 2]]
        self.records: list[int] = parse_records(
            list(range(len(images))), self._check, lambda i: f"{self.path} index {i}", skip_invalid, self.name
        )

    def _check(self, index: int) -> int:
        if not np.isfinite(self.poses[index]).all():
            raise DatasetFormatError(f"pose {self.poses[index].tolist()} is not finite")
        return index

    def load(self, index: int) -> Sample:
        i = self.records[index]
        image = torch.from_numpy(self.images[i]).permute(2, 0, 1).contiguous()
        return {
            "image": image,
            "box": whole_image_box(image),
            "tasks": ("headpose",),
            "source": f"{self.path} index {i}",
            "headpose": torch.from_numpy(self.poses[i].copy()),
        }
