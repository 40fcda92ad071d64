"""CelebAMask-HQ: per-part binary masks merged into LaPa's 11-class parsing map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    load_image,
    parse_records,
    whole_image_box,
)

VAL_START, TEST_START = 162771, 182638

LAYOUT = """\
<root>/
  CelebA-HQ-img/<k>.jpg                                   k = 0..29999, 1024x1024
  CelebAMask-HQ-mask-anno/<k // 2000>/<k:05d>_<part>.png  512x512 binary masks, one per part present
  CelebA-HQ-to-CelebA-mapping.txt                         header 'idx orig_idx orig_file', then rows
  list_eval_partition.txt                                 (CelebA's; only for split_source="celeba")
Download: https://github.com/switchablenorms/CelebAMask-HQ (non-commercial research)."""


@dataclass(frozen=True)
class _Record:
    index: int
    line: int
    orig_index: int
    orig_file: str


class CelebAMaskHQ(FaceDataset):
    """CelebAMask-HQ parsing labels in the 11-class LaPa order (``facexformer.data.datasets.lapa``).

    Merge: the part masks are painted in ``PAINT_ORDER`` (later parts overwrite earlier ones), each with its
    LaPa class; parts without a LaPa class (eyeglasses, ears, earring, hat, neck, necklace, cloth) paint
    background. The order is the official ``g_mask.py`` one, so the result equals the official 19-class map
    with the extra classes set to background. Left/right are swapped: CelebAMask-HQ ``l_*`` (subject's left)
    is LaPa's right class and vice versa (TASKS.md §2.2). Override ``PAINT_ORDER`` in a subclass for another
    convention (e.g. dropping the extra parts instead of painting them).
    Size: the 512² merged map is upsampled (nearest, each label repeated) to the 1024² image, so ``parsing``
    (H, W) is in the image frame like every other label. Box: the whole image (the faces are aligned crops).

    Split (``split_source``): "thresholds" (default) = the official ``g_partition.py`` rule on the original
    CelebA index (``orig_idx`` < 162771 train, < 182638 val, else test; commonly 24,183 / 2,993 / 2,824);
    "celeba" = the partition of ``orig_file`` in CelebA's ``list_eval_partition.txt`` (0/1/2).
    """

    name = "CelebAMask-HQ"
    layout = LAYOUT
    splits = ("train", "val", "test")
    PAINT_ORDER: tuple[tuple[str, int], ...] = (
        ("skin", 1), ("nose", 6), ("eye_g", 0), ("l_eye", 5), ("r_eye", 4), ("l_brow", 3), ("r_brow", 2),
        ("l_ear", 0), ("r_ear", 0), ("mouth", 8), ("u_lip", 7), ("l_lip", 9), ("hair", 10), ("hat", 0),
        ("ear_r", 0), ("neck_l", 0), ("neck", 0), ("cloth", 0),
    )  # fmt: skip

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        split_source: Literal["thresholds", "celeba"] = "thresholds",
        skip_invalid: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        self.image_dir = self.require(self.root / "CelebA-HQ-img")
        self.mask_dir = self.require(self.root / "CelebAMask-HQ-mask-anno")
        mapping = self.require(self.root / "CelebA-HQ-to-CelebA-mapping.txt")
        lines = mapping.read_text().splitlines()
        if not lines or lines[0].split()[:2] != ["idx", "orig_idx"]:
            raise DatasetFormatError(f"CelebAMask-HQ: {mapping} line 1 is not the 'idx orig_idx orig_file' header")
        numbered = [(n, text) for n, text in enumerate(lines[1:], 2) if text.strip()]
        records = parse_records(numbered, _parse_mapping, lambda r: f"{mapping} line {r[0]}", skip_invalid, self.name)
        if split_source == "thresholds":
            self.records: list[_Record] = [r for r in records if _threshold_split(r.orig_index) == split]
        elif split_source == "celeba":
            partition = self._celeba_partition()
            missing = [r for r in records if r.orig_file not in partition]
            if missing:
                raise DatasetFormatError(
                    f"CelebAMask-HQ: {mapping} line {missing[0].line}: {missing[0].orig_file} is not in "
                    "list_eval_partition.txt"
                )
            self.records = [r for r in records if partition[r.orig_file] == split]
        else:
            raise ValueError(f"CelebAMask-HQ: split_source must be 'thresholds' or 'celeba', got {split_source!r}")

    def _celeba_partition(self) -> dict[str, str]:
        path = self.require(self.root / "list_eval_partition.txt")
        names = {"0": "train", "1": "val", "2": "test"}
        partition = {}
        for number, text in enumerate(path.read_text().splitlines(), 1):
            fields = text.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in names:
                raise DatasetFormatError(f"CelebAMask-HQ: {path} line {number}: expected '<file> <0|1|2>'")
            partition[fields[0]] = names[fields[1]]
        return partition

    def merged_mask(self, index: int) -> torch.Tensor:
        """The 11-class map at the masks' own resolution, int64 (512, 512), of CelebA-HQ image ``index``."""
        folder = self.mask_dir / str(index // 2000)
        label: np.ndarray | None = None
        for part, value in self.PAINT_ORDER:
            path = folder / f"{index:05d}_{part}.png"
            if not path.is_file():
                continue
            mask = _read_part(path)
            if label is None:
                label = np.zeros(mask.shape, dtype=np.int64)
            if mask.shape != label.shape:
                raise DatasetFormatError(f"{path}: mask {mask.shape} differs from the other parts' {label.shape}")
            label[mask] = value
        if label is None:
            raise DatasetFormatError(f"CelebAMask-HQ: no part masks {folder}/{index:05d}_<part>.png")
        return torch.from_numpy(label)

    def load(self, index: int) -> Sample:
        record = self.records[index]
        path = self.image_dir / f"{record.index}.jpg"
        image = load_image(path)
        label = self.merged_mask(record.index)
        size = tuple(image.shape[1:])
        if tuple(label.shape) != size:
            label = F.interpolate(label[None, None].float(), size=size, mode="nearest")[0, 0].long()
        return {
            "image": image,
            "box": whole_image_box(image),
            "tasks": ("parsing",),
            "source": f"{path} (CelebA-HQ-to-CelebA-mapping.txt line {record.line})",
            "parsing": label,
        }


def _parse_mapping(numbered: tuple[int, str]) -> _Record:
    line, text = numbered
    fields = text.split()
    if len(fields) != 3:
        raise DatasetFormatError(f"expected 'idx orig_idx orig_file', got {text!r}")
    return _Record(int(fields[0]), line, int(fields[1]), fields[2])


def _threshold_split(orig_index: int) -> str:
    if orig_index >= TEST_START:
        return "test"
    return "val" if orig_index >= VAL_START else "train"


def _read_part(path: Path) -> np.ndarray:
    """A part mask as bool (H, W): non-zero in the first channel (as the official g_mask.py reads it)."""
    try:
        with Image.open(path) as img:
            array = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise DatasetFormatError(f"{path}: cannot decode mask ({err})") from err
    return (array[..., 0] if array.ndim == 3 else array) != 0
