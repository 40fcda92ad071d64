"""A dataset reader that is not the package's, for the tests that plug one in by class path
(``tests.datasets.GenderCsv``): the whole reader is this one file."""

from pathlib import Path

import torch

from facexformer.data.datasets.base import DatasetFormatError, FaceDataset, Sample, Transform, load_image


class GenderCsv(FaceDataset):
    """Faces listed in ``<root>/<split>.csv``, one per line: ``image file, x0, y0, x1, y1, gender`` (0 male,
    1 female); ``box`` in the image's pixels."""

    name = "GenderCsv"
    layout = """\
<root>/
  train.csv, test.csv     file,x0,y0,x1,y1,gender per line
  <image files>"""
    splits = ("train", "test")

    def __init__(self, root: str | Path, split: str, transform: Transform | None = None, skip_invalid: bool = False):
        super().__init__(root, split, transform, skip_invalid)
        self.listing = self.require(self.root / f"{split}.csv")
        self.records = [line.split(",") for line in self.listing.read_text().splitlines() if line.strip()]
        self.require_samples(self.listing)

    def load(self, index: int) -> Sample:
        source = f"{self.listing}:{index + 1}"
        try:
            file, x0, y0, x1, y1, gender = self.records[index]
            box, label = torch.tensor([float(x0), float(y0), float(x1), float(y1)]), int(gender)
        except ValueError as err:
            raise DatasetFormatError(f"{source}: expected file,x0,y0,x1,y1,gender ({err})") from None
        image = load_image(self.root / file.strip())
        return {"image": image, "box": box, "tasks": ("gender",), "gender": torch.tensor(label), "source": source}
