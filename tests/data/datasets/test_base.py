import pytest
import torch

from facexformer.data import datasets
from facexformer.data.datasets.base import FaceDataset, whole_image_box


class _Tiny(FaceDataset):
    """A dataset of one sample per record."""

    name = "Tiny"
    layout = "<root>/\n  tiny.txt"
    splits = ("train",)

    def __init__(self, root, split, transform=None):
        super().__init__(root, split, transform)
        self.records = [self.require(self.root / "tiny.txt")] * 3

    def load(self, index):
        return {"index": index}


def test_length_transform_and_docstring(tmp_path):
    (tmp_path / "tiny.txt").write_text("x")
    data = _Tiny(tmp_path, "train", transform=lambda s: {**s, "seen": True})
    assert len(data) == 3 and data[2] == {"index": 2, "seen": True}
    assert _Tiny.__doc__ == "A dataset of one sample per record.\n\nExpected layout::\n\n    <root>/\n      tiny.txt\n"


def test_missing_paths_and_unknown_split_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Tiny: .*nowhere does not exist. Expected layout:\n<root>/"):
        _Tiny(tmp_path / "nowhere", "train")
    with pytest.raises(FileNotFoundError, match="tiny.txt does not exist"):
        _Tiny(tmp_path, "train")
    with pytest.raises(ValueError, match="unknown split 'test'"):
        _Tiny(tmp_path, "test")


def test_every_reader_documents_its_layout():
    from facexformer.plugins import load_declared

    readers = [getattr(datasets, name) for name in datasets.__all__] + list(load_declared("datasets").values())
    readers = [cls for cls in readers if isinstance(cls, type) and issubclass(cls, FaceDataset)]
    assert {"W300", "WFLW", "AFLW19", "COFW", "CelebA", "CelebAMaskHQ", "LaPa"} <= {c.__name__ for c in readers}
    for cls in readers:
        if cls is FaceDataset:
            continue
        assert cls.name and cls.layout, cls
        assert cls.__doc__.endswith(cls.layout.splitlines()[-1] + "\n"), cls
        assert "Expected layout::\n\n    <root>" in cls.__doc__, cls


def test_whole_image_box():
    assert whole_image_box(torch.zeros(3, 5, 7)).tolist() == [0.0, 0.0, 7.0, 5.0]


def test_every_built_in_reader_is_declared_by_entry_point_like_a_plugin():
    from facexformer.plugins import declared_class_paths

    declared = declared_class_paths("datasets")
    readers = [getattr(datasets, name) for name in datasets.__all__]
    readers = [cls for cls in readers if isinstance(cls, type) and issubclass(cls, FaceDataset) and cls.layout]
    assert readers and all(f"{cls.__module__}.{cls.__qualname__}" in declared for cls in readers)
