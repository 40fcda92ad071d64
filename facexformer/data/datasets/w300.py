"""300W (68 landmarks) from the iBUG download: one ``.pts`` file beside each image."""

from __future__ import annotations

from pathlib import Path

import torch

from facexformer.data.datasets.base import (
    DatasetFormatError,
    FaceDataset,
    Sample,
    Transform,
    box_from_points,
    files_with_suffixes,
    load_image,
    parse_records,
)
from facexformer.geometry.landmark_schemes import scheme_for

LAYOUT = """\
<root>/
  afw/                 337 images (.jpg) + .pts
  helen/trainset/      2000 images (.jpg) + .pts
  helen/testset/       330
  lfpw/trainset/       811 images (.png) + .pts
  lfpw/testset/        224
  ibug/                135 images (.jpg) + .pts
  300W/01_Indoor/      300 images (indoor_001.png ...) + .pts   (the private 300W test set)
  300W/02_Outdoor/     300"""

SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("afw", "helen/trainset", "lfpw/trainset"),
    "common": ("helen/testset", "lfpw/testset"),
    "challenge": ("ibug",),
    "full": ("helen/testset", "lfpw/testset", "ibug"),
    "train+full": ("afw", "helen/trainset", "lfpw/trainset", "helen/testset", "lfpw/testset", "ibug"),
    "test": ("300W/01_Indoor", "300W/02_Outdoor"),
}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG")
#: the suffix of a mirrored sample's name (``W300(mirror=True).names``)
MIRROR_SUFFIX = "#mirror"


def read_pts(path: Path, num_points: int | None = None) -> torch.Tensor:
    """The points of a ``.pts`` file exactly as written: float32 (N, 2) (x, y), 1-based iBUG pixels.

    Format: ``version: 1``, ``n_points: N``, ``{``, N lines ``x y``, ``}``. Errors name the line (1-based).
    """
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")  # a byte-order mark is dropped
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) < 4 or not lines[0].startswith("version:") or not lines[1].startswith("n_points:"):
        raise DatasetFormatError("expected the header 'version: 1' / 'n_points: N' / '{'")
    try:
        count = int(lines[1].split(":", 1)[1])
    except ValueError as err:
        raise DatasetFormatError(f"line 2: bad point count {lines[1]!r}") from err
    if num_points is not None and count != num_points:
        raise DatasetFormatError(f"line 2: n_points is {count}, expected {num_points}")
    if lines[2] != "{" or len(lines) != count + 4 or lines[-1] != "}":
        raise DatasetFormatError(
            f"expected '{{', {count} lines 'x y' and '}}' after the header, "
            f"found {len(lines) - 3} lines after 'n_points'"
        )
    points = []
    for number, line in enumerate(lines[3:-1], start=4):
        fields = line.split()
        if len(fields) != 2:
            raise DatasetFormatError(f"line {number}: expected 2 numbers 'x y', got {len(fields)} fields")
        try:
            points.append([float(fields[0]), float(fields[1])])
        except ValueError as err:
            raise DatasetFormatError(f"line {number}: not a number in {line!r}") from err
    result = torch.tensor(points, dtype=torch.float32)
    if not torch.isfinite(result).all():
        raise DatasetFormatError("non-finite coordinate")
    return result


def _image_beside(pts: Path) -> Path:
    for suffix in IMAGE_SUFFIXES:
        for spelling in (suffix, suffix.upper()):
            candidate = pts.with_suffix(spelling)
            if candidate.is_file():
                return candidate
    raise DatasetFormatError(f"no image beside it (looked for {pts.stem} with {', '.join(IMAGE_SUFFIXES)})")


class W300(FaceDataset):
    """300W, 68 landmarks; one sample per ``.pts`` file (the iBUG 300W download).

    Splits: ``train`` (3148: afw + helen/trainset + lfpw/trainset), ``common`` (554: helen/testset +
    lfpw/testset), ``challenge`` (135: ibug), ``full`` (689: common + challenge), ``test`` (600: the private
    indoor + outdoor set), ``train+full`` (3837: train and full together, the seed study's pool). Each image is
    the file with the ``.pts`` file's stem and a .png/.jpg suffix.

    Coordinates: ``.pts`` files are 1-based (MATLAB); ``landmarks`` = file values - 1, float32 (68, 2) pixels,
    0-based, pixel centres at integer coordinates. ``box`` is the tight box around the landmarks.

    ``mirror``: each face also as its mirror image, right after it (2N samples: 2i the face, 2i + 1 its mirror):
    the image flipped left-right, x -> W - 1 - x, and the points renumbered so that point i is still the
    same part of the face (the 68-point flip permutation); its ``source`` ends in ``#mirror``. ``source``: the
    image's path (the ``.pts`` file lies beside it with the same stem). ``train+full``
    with ``mirror`` gives the seed study's 7,674 images. ``names``: each sample's path relative to ``root``
    (``helen/trainset/100032540_1.pts``, mirrors with ``#mirror``), what seeded splits sort and group by.
    """

    name = "300W"
    layout = LAYOUT
    splits = tuple(SPLIT_FOLDERS)
    num_points = 68

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: Transform | None = None,
        skip_invalid: bool = False,
        mirror: bool = False,
    ):
        super().__init__(root, split, transform, skip_invalid)
        self.mirror = mirror
        files: list[Path] = []
        for folder in SPLIT_FOLDERS[split]:
            directory = self.require(self.root / folder)
            found = files_with_suffixes(directory, (".pts",))  # also .PTS
            if not found:
                raise DatasetFormatError(f"300W: {directory} holds no .pts files. Expected layout:\n{self.layout}")
            files.extend(found)
        self.records: list[tuple[Path, Path, torch.Tensor]] = parse_records(
            files, self._parse, where=str, skip_invalid=skip_invalid, dataset=self.name
        )
        self.require_samples(f"the .pts files under {self.root}")

    def _parse(self, pts: Path) -> tuple[Path, Path, torch.Tensor]:
        return pts, _image_beside(pts), read_pts(pts, self.num_points) - 1.0

    def __len__(self) -> int:
        return len(self.records) * (2 if self.mirror else 1)

    @property
    def names(self) -> list[str]:
        """Each sample's ``.pts`` path relative to ``root`` (POSIX), ``#mirror`` appended for mirrors."""
        names = [pts.relative_to(self.root).as_posix() for pts, _, _ in self.records]
        if not self.mirror:
            return names
        return [name + suffix for name in names for suffix in ("", MIRROR_SUFFIX)]

    def load(self, index: int) -> Sample:
        mirrored = self.mirror and index % 2 == 1
        pts, image_path, landmarks = self.records[index // 2 if self.mirror else index]
        image, landmarks = load_image(image_path), landmarks.clone()
        if mirrored:
            image = image.flip(-1)
            landmarks = landmarks[list(scheme_for(self.num_points).flip_index)]
            landmarks[:, 0] = image.shape[-1] - 1 - landmarks[:, 0]
        return {
            "image": image,
            "box": box_from_points(landmarks),
            "landmarks": landmarks,
            "tasks": ("landmarks",),
            "source": str(image_path) + (MIRROR_SUFFIX if mirrored else ""),
        }
