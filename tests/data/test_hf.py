import math
import time

import numpy as np
import pytest
import torch
from PIL import Image

datasets = pytest.importorskip("datasets")

from facexformer.data.datasets.base import DatasetFormatError  # noqa: E402
from facexformer.data.hf import HFDataset  # noqa: E402
from facexformer.tasks import Label, Task, Visibility  # noqa: E402


def pil(h: int = 6, w: int = 8, value: int = 7) -> Image.Image:
    return Image.fromarray(np.full((h, w, 3), value, dtype=np.uint8))


def landmark_dataset():
    points = [[[1.0, 2.0], [5.5, 3.0], [4.0, 5.0]], [[0.0, 0.0], [2.0, 2.0], [3.0, 1.0]]]
    return datasets.Dataset.from_dict(
        {"img": [pil(value=3), pil(value=9)], "kps": points, "extra": ["a", "b"]},
        features=datasets.Features(
            {
                "img": datasets.Image(),
                "kps": datasets.List(datasets.List(datasets.Value("float64"))),
                "extra": datasets.Value("string"),
            }
        ),
    )


def test_landmarks_with_renamed_columns_and_box_from_points():
    data = HFDataset(landmark_dataset(), "landmarks", columns={"image": "img", "landmarks": "kps"})
    assert len(data) == 2
    sample = data[0]
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 6, 8)
    assert int(sample["image"][0, 0, 0]) == 3
    assert sample["landmarks"].dtype == torch.float32 and sample["landmarks"].shape == (3, 2)
    assert sample["landmarks"][1].tolist() == [5.5, 3.0]
    assert sample["box"].tolist() == [1.0, 2.0, 5.5, 5.0]
    assert sample["tasks"] == ("landmarks",)
    assert sample["source"].endswith("[0]")
    assert "extra" not in sample


def test_saved_to_disk_path_and_numpy_torch_formats(tmp_path):
    landmark_dataset().save_to_disk(str(tmp_path / "ds"))
    data = HFDataset(tmp_path / "ds", "landmarks", columns={"image": "img", "landmarks": "kps"})
    assert data[1]["landmarks"][2].tolist() == [3.0, 1.0] and str(tmp_path) in data[1]["source"]
    for fmt in ("numpy", "torch"):
        formatted = landmark_dataset().with_format(fmt)
        sample = HFDataset(formatted, "landmarks", columns={"image": "img", "landmarks": "kps"})[1]
        assert sample["image"].shape == (3, 6, 8) and int(sample["image"][2, 5, 7]) == 9
        assert sample["landmarks"].dtype == torch.float32
    dd = datasets.DatasetDict({"train": landmark_dataset(), "test": landmark_dataset().select([0])})
    dd.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(ValueError, match="splits"):
        HFDataset(tmp_path / "dd", "landmarks")
    assert len(HFDataset(tmp_path / "dd", "landmarks", {"image": "img", "landmarks": "kps"}, split="test")) == 1
    with pytest.raises(ValueError, match="no split 'val'"):
        HFDataset(tmp_path / "dd", "landmarks", split="val")
    with pytest.raises(FileNotFoundError):
        HFDataset(tmp_path / "missing", "landmarks")


def test_all_label_kinds_and_defaults():
    parsing = np.zeros((6, 8), dtype=np.int64)
    parsing[2, 3] = 10
    ds = datasets.Dataset.from_dict(
        {
            "image": [np.full((6, 8, 3), 5, np.uint8)],
            "headpose": [[10.0, -20.0, 5.0]],
            "attributes": [[1] * 20 + [0] * 20],
            "visibility": [[0.0] * 28 + [1.0]],
            "parsing": [parsing.tolist()],
            "age": [34.0],
            "gender": [1],
            "race": [3],
            "expression": [6],
            "identity": [12345],
            "box": [[1, 1, 7, 5]],
        }
    )
    tasks = [
        "headpose",
        "attributes",
        "visibility",
        "parsing",
        "age",
        "gender",
        "race",
        "expression",
        "recognition",
    ]
    sample = HFDataset(ds, tasks)[0]
    assert sample["tasks"] == tuple(tasks)
    assert sample["headpose"].tolist() == [10.0, -20.0, 5.0] and sample["headpose"].dtype == torch.float32
    assert sample["attributes"].shape == (40,) and sample["attributes"].sum() == 20
    assert sample["visibility"][-1] == 1.0 and sample["visibility"].dtype == torch.float32
    assert sample["parsing"].dtype == torch.int64 and sample["parsing"][2, 3] == 10
    assert sample["age"].dtype == torch.float32 and sample["age"].item() == 34.0
    assert sample["age_group"].item() == 3 and sample["age_group"].dtype == torch.int64
    assert [sample[k].item() for k in ("gender", "race", "expression", "identity")] == [1, 3, 6, 12345]
    assert all(sample[k].dtype == torch.int64 for k in ("gender", "race", "expression", "identity"))
    assert sample["box"].tolist() == [1.0, 1.0, 7.0, 5.0] and sample["box"].dtype == torch.float32


def test_age_group_column_and_whole_image_box():
    ds = datasets.Dataset.from_dict({"image": [pil()], "age": [float("nan")], "group": [7]})
    sample = HFDataset(ds, "age", columns={"age_group": "group"})[0]
    assert math.isnan(sample["age"].item()) and sample["age_group"].item() == 7
    assert sample["box"].tolist() == [0.0, 0.0, 8.0, 6.0]
    with pytest.raises(DatasetFormatError, match="'age'"):
        HFDataset(datasets.Dataset.from_dict({"image": [pil()], "age": [float("nan")]}), "age")


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("headpose", [1.0, 2.0], r"column 'headpose'.*expected shape \(3,\)"),
        ("attributes", [2.0] * 40, "column 'attributes'.*0 or 1"),
        ("gender", 0.5, "column 'gender'.*integer"),
        ("image", np.zeros((6, 8, 3), np.float32).tolist(), "column 'image'.*uint8"),
    ],
)
def test_bad_first_row_names_column(column, value, message):
    row = {"image": pil(), "headpose": [1.0, 2.0, 3.0], "attributes": [1.0] * 40, "gender": 1}
    row[column] = value
    ds = datasets.Dataset.from_dict({k: [v] for k, v in row.items()})
    with pytest.raises(DatasetFormatError, match=message):
        HFDataset(ds, ["headpose", "attributes", "gender"])


def test_missing_and_unknown_columns_and_tasks():
    ds = landmark_dataset()
    with pytest.raises(DatasetFormatError, match="no column 'image'"):
        HFDataset(ds, "landmarks", columns={"landmarks": "kps"})
    with pytest.raises(DatasetFormatError, match="no column 'bbox'"):
        HFDataset(ds, "landmarks", columns={"image": "img", "landmarks": "kps", "box": "bbox"})
    with pytest.raises(ValueError, match="unknown task"):
        HFDataset(ds, "pose")
    with pytest.raises(ValueError, match="do not use"):
        HFDataset(ds, "landmarks", columns={"image": "img", "landmarks": "kps", "gender": "g"})
    with pytest.raises(TypeError, match="datasets.Dataset"):
        HFDataset([1, 2], "landmarks")


def test_parsing_must_match_image():
    ds = datasets.Dataset.from_dict({"image": [pil()], "parsing": [np.zeros((5, 8), np.int64).tolist()]})
    with pytest.raises(DatasetFormatError, match=r"has shape \(5, 8\), but the image is \(6, 8\)"):
        HFDataset(ds, "parsing")


def test_folder_of_parquet_files_through_load_dataset(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    landmark_dataset().to_parquet(str(folder / "train.parquet"))
    landmark_dataset().select([1]).to_parquet(str(folder / "test.parquet"))
    columns = {"image": "img", "landmarks": "kps"}
    data = HFDataset(str(folder), "landmarks", columns, split="test", cache_dir=str(tmp_path / "cache"))
    assert len(data) == 1 and data[0]["landmarks"][2].tolist() == [3.0, 1.0]
    assert int(data[0]["image"][0, 0, 0]) == 9


def test_hub_id_goes_to_load_dataset_with_split_and_revision(monkeypatch):
    calls = []

    def load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        return landmark_dataset()

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    data = HFDataset("someone/faces", "landmarks", {"image": "img", "landmarks": "kps"}, split="train", revision="v1")
    assert len(data) == 2 and data.name == "someone/faces"
    assert calls == [("someone/faces", {"split": "train", "revision": "v1", "cache_dir": None, "streaming": False})]


def test_missing_local_path_is_reported_at_once_not_sent_to_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("a local path went to the Hub"))
    for path in ("data/faces", "./faces", "faces.parquet", str(tmp_path / "x" / "y"), "a/b/c"):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            HFDataset(path, "landmarks")


def test_uncached_hub_dataset_offline_fails_fast_naming_hf_download(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="hf download --repo-type dataset nobody/no-such-faces") as info:
        HFDataset("nobody/no-such-faces", "landmarks", cache_dir=str(tmp_path / "cache"))
    assert time.perf_counter() - start < 10
    assert "offline" in str(info.value)


def test_a_task_instance_checks_the_sizes_its_arguments_set():
    ds = datasets.Dataset.from_dict({"image": [pil()], "visibility": [[0.0, 1.0, 1.0]]})
    assert HFDataset(ds, "visibility")[0]["visibility"].tolist() == [0.0, 1.0, 1.0]  # a bare name: any length
    assert HFDataset(ds, Visibility(num_points=3))[0]["visibility"].shape == (3,)
    with pytest.raises(DatasetFormatError, match=r"row 0: column 'visibility'.*expected shape \(29,\)"):
        HFDataset(ds, Visibility())
    with pytest.raises(DatasetFormatError, match=r"column 'kps' \(landmarks\).*\(5, 2\) float32 keypoints"):
        HFDataset(
            landmark_dataset(),
            {"class_path": "landmarks", "init_args": {"num_points": 5}},
            {"image": "img", "landmarks": "kps"},
        )


def test_a_new_tasks_labels_are_read_from_its_declaration(task_registry):
    class Iris(Task):
        name = "test_iris"
        labels = (Label("test_pupils", "keypoints", (2, 2)), Label("test_iris", "mask"))

    iris = np.zeros((6, 8), np.int64)
    iris[2:4, 1:3] = 1
    ds = datasets.Dataset.from_dict(
        {"image": [pil(), pil()], "test_pupils": [[[1, 2], [6, 3]], [[1, 1], [2, 2]]], "test_iris": [iris.tolist()] * 2}
    )
    sample = HFDataset(ds, "test_iris")[0]
    assert sample["test_pupils"].dtype == torch.float32 and sample["test_pupils"].tolist() == [[1, 2], [6, 3]]
    assert sample["test_iris"].dtype == torch.int64 and sample["test_iris"].sum() == 4
    assert sample["box"].tolist() == [1.0, 2.0, 6.0, 3.0]  # the tight box of the task's keypoints
    small = ds.map(lambda row: {"test_iris": np.zeros((5, 8), np.int64).tolist()})
    with pytest.raises(DatasetFormatError, match=r"column 'test_iris' has shape \(5, 8\), but the image is \(6, 8\)"):
        HFDataset(small, Iris())


def test_a_task_without_label_declarations_is_refused(task_registry):
    class Legacy(Task):
        name = "test_legacy"
        label_keys = ("test_legacy",)

    ds = datasets.Dataset.from_dict({"image": [pil()], "test_legacy": [1]})
    with pytest.raises(ValueError, match="task 'test_legacy' lists label_keys.*declares no `labels`"):
        HFDataset(ds, "test_legacy")


def test_all_keypoints_missing_and_no_box_names_the_row():
    ds = datasets.Dataset.from_dict({"image": [pil()], "landmarks": [[[float("nan")] * 2] * 3]})
    with pytest.raises(DatasetFormatError, match="row 0: no box column, and all 3 landmarks are missing"):
        HFDataset(ds, "landmarks")
