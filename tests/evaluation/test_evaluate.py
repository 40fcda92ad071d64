"""``facexformer evaluate`` on generated data in each benchmark's download layout, against a computation written
here: predictions from ``model.predict`` with the annotation boxes, scored by hand in original pixels."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facexformer import FaceXFormer
from facexformer.apps.evaluate import main
from tests.fake_data import aflw2000, biwi, cofw, w300

TINY = {"backbone": "test_convnext", "image_size": 64, "dim": 32, "decoder_mlp_dim": 64}


def saved_model(folder: Path, tasks: list) -> tuple[FaceXFormer, str]:
    model = FaceXFormer(tasks=tasks, **TINY).eval()
    model.save_pretrained(folder)
    return FaceXFormer.from_pretrained(folder), str(folder)


#: benchmarks whose images are stored inside one file (the face's ``index`` says which): that file's suffix
CONTAINERS = {"cofw": ".mat", "cofw_visibility": ".mat", "biwi": ".npz"}


def check_prediction_images(benchmark: str, root: Path, out: Path) -> None:
    """Each line of ``out/predictions.jsonl`` names its face's image file relative to ``root`` (an image; for
    images stored inside one file, that file)."""
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert records
    for record in records:
        path = root / record["image"]
        assert not Path(record["image"]).is_absolute() and path.is_file(), record["image"]
        if benchmark in CONTAINERS:
            assert path.suffix == CONTAINERS[benchmark], record["image"]
        else:
            with Image.open(path) as image:
                image.verify()


def run(benchmark: str, root: Path, checkpoint: str, out: Path, *extra: str) -> dict[tuple[str, str], dict]:
    code = main(["--benchmark", benchmark, "--root", str(root), "--checkpoint", checkpoint, "--out", str(out), *extra])
    assert code == 0
    check_prediction_images(benchmark, root, out)
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert (out / "table.md").read_text().startswith("| subset | task | metric |")
    return {(row["subset"], row["metric"]): row for row in rows}


def tight_box(points: np.ndarray) -> np.ndarray:
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])


def read_pts(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()[3:-1]
    return np.array([[float(v) for v in line.split()] for line in lines]) - 1.0


def nme(model: FaceXFormer, image: np.ndarray, target: np.ndarray, box: np.ndarray, left, right) -> float:
    """One face's NME in original pixels: prediction inside ``box``, normalised by the distance between the
    means of the ``left`` and ``right`` point groups of the ground truth."""
    predicted = np.asarray(model.predict(image, boxes=box[None])[0].landmarks, dtype=np.float64)
    error = np.linalg.norm(predicted - target, axis=1).mean()
    return error / np.linalg.norm(target[left].mean(0) - target[right].mean(0))


def test_300w_table_matches_nme_computed_by_hand(tmp_path, capsys):
    root = w300.write(tmp_path / "300W")
    model, checkpoint = saved_model(tmp_path / "model", ["landmarks"])
    rows = run("300w", root, checkpoint, tmp_path / "out", "--batch_size", "2")
    errors = {}
    for folder in w300.FOLDERS:
        for pts in sorted((root / folder).glob("*.pts")):
            image = np.asarray(Image.open(next(p for p in pts.parent.glob(pts.stem + ".*") if p.suffix != ".pts")))
            target = read_pts(pts)
            errors.setdefault(folder, []).append(nme(model, image, target, tight_box(target), [36], [45]))
    expected = {
        "common": errors["helen/testset"] + errors["lfpw/testset"],
        "challenge": errors["ibug"],
        "full": errors["helen/testset"] + errors["lfpw/testset"] + errors["ibug"],
    }
    for subset, values in expected.items():
        row = rows[(subset, "NME_io")]
        assert row["value"] == pytest.approx(100 * np.mean(values), rel=1e-4), subset
        assert (row["faces"], row["unit"], row["task"], row["benchmark"]) == (len(values), "%", "landmarks", "300w")
        assert rows[(subset, "FR@0.08")]["value"] == pytest.approx(100 * np.mean(np.array(values) > 0.08))
    assert [p["value"] for p in rows[("full", "NME_io")]["published"]] == [3.05]
    printed = capsys.readouterr()
    table = printed.out
    assert table.count("| subset | task | metric |") == 1 and "nan" not in table.lower()
    # not a terminal: no progress line per batch, no notice of Lightning's own
    assert "Testing DataLoader" not in printed.out + printed.err and "litlogger" not in printed.out + printed.err
    assert {path.name for path in (tmp_path / "out" / "ced").iterdir()} >= {"common.csv", "challenge.csv", "full.csv"}
    # predictions.jsonl: one line per face and subset, landmarks in original pixels; its NMEs give the table's
    lines = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [(r["subset"], r["index"]) for r in lines] == [
        (subset, i) for subset, values in expected.items() for i in range(len(values))
    ]
    assert lines[0]["image"] == "helen/testset/face_0_0.jpg"
    common = []
    for record in lines[:3]:
        target = read_pts((root / record["image"]).with_suffix(".pts"))
        distance = np.linalg.norm(target[36] - target[45])
        common.append(np.linalg.norm(np.array(record["landmarks"]) - target, axis=1).mean() / distance)
    assert rows[("common", "NME_io")]["value"] == pytest.approx(100 * np.mean(common), rel=1e-5)


#: real COFW test faces in the download's layout (tests/fixtures/PROVENANCE.md): the same file as MATLAB v7.3 and v5
SAMPLES = Path(__file__).parents[1] / "fixtures" / "shared" / "reference" / "landmarks" / "samples"


@pytest.mark.parametrize("source", ["generated", "cofw", "cofw_v5"])
def test_cofw_rows_for_both_normalisers(tmp_path, source):
    root = cofw.write(tmp_path / "COFW") if source == "generated" else SAMPLES / source
    faces = 3 if source == "generated" else 2
    model, checkpoint = saved_model(tmp_path / "model", [{"class_path": "landmarks", "init_args": {"num_points": 29}}])
    rows = run("cofw", root, checkpoint, tmp_path / "out")
    from facexformer.data.datasets import COFW

    io, ip = [], []
    for sample in COFW(root, "test"):
        image = sample["image"].permute(1, 2, 0).numpy()
        target, box = sample["landmarks"].double().numpy(), sample["box"].double().numpy()
        io.append(nme(model, image, target, box, [8], [9]))
        ip.append(nme(model, image, target, box, [16], [17]))
    assert rows[("test", "NME_io")]["value"] == pytest.approx(100 * np.mean(io), rel=1e-4)
    assert rows[("test", "NME_ip")]["value"] == pytest.approx(100 * np.mean(ip), rel=1e-4)
    assert rows[("test", "NME_io")]["faces"] == faces and "inter_pupil" in rows[("test", "NME_ip")]["protocol"]


def pose_rows(model, images, targets) -> dict[str, float]:
    """MAE per angle (the paper's plain |pred - gt|) of predictions on whole images."""
    predicted = []
    for image in images:
        pose = model.predict(image, boxes=np.array([[0, 0, image.shape[1], image.shape[0]]]))[0].headpose
        predicted.append([pose["pitch"], pose["yaw"], pose["roll"]])
    errors = np.abs(np.array(predicted) - np.asarray(targets)).mean(0)
    return {"MAE_pitch": errors[0], "MAE_yaw": errors[1], "MAE_roll": errors[2], "MAE": errors.mean()}


def test_biwi_mae_matches_by_hand(tmp_path):
    root = biwi.write(tmp_path / "BIWI")
    model, checkpoint = saved_model(tmp_path / "model", ["headpose"])
    rows = run("biwi", root, checkpoint, tmp_path / "out")
    data = np.load(root / "BIWI_noTrack.npz")
    targets = data["pose"][:, [1, 0, 2]]  # [yaw, pitch, roll] -> (pitch, yaw, roll)
    for metric, value in pose_rows(model, list(data["image"]), targets).items():
        assert rows[("test", metric)]["value"] == pytest.approx(value, rel=1e-4, abs=1e-4), metric
        assert rows[("test", metric)]["unit"] == "°"
    assert rows[("test", "MAE")]["published"][0]["value"] == 3.52


def test_pose_rule_6drepnet_forgives_half_turns(tmp_path):
    """Targets made from the model's own predictions shifted by half and whole turns: the paper's rule counts
    the turns, 6DRepNet's (``--pose_rule 6drepnet``) forgives them; rows named by the rule."""
    root = biwi.write(tmp_path / "BIWI")
    model, checkpoint = saved_model(tmp_path / "model", ["headpose"])
    data = dict(np.load(root / "BIWI_noTrack.npz"))
    whole = np.array([[0, 0, 40, 40]])
    predicted = np.array(
        [
            [p[k] for k in ("pitch", "yaw", "roll")]
            for p in (model.predict(image, boxes=whole)[0].headpose for image in data["image"])
        ]
    )
    shifts = np.array([[180.5, -2.0, 1.0], [-3.0, 179.0, 360.5], [0.25, -181.0, -0.5]])  # (pitch, yaw, roll)
    targets = predicted + shifts
    data["pose"] = targets[:, [1, 0, 2]]  # -> BIWI's [yaw, pitch, roll]
    np.savez(root / "BIWI_noTrack.npz", **data)
    rows = run("biwi", root, checkpoint, tmp_path / "out", "--pose_rule", "6drepnet")
    d = predicted - targets
    errors = np.min(np.abs(np.stack([d, d + 180, d - 180, d + 360, d - 360])), axis=0).mean(0)
    for name, value in zip(("MAE_pitch", "MAE_yaw", "MAE_roll"), errors, strict=True):
        row = rows[("test", f"{name} (6drepnet)")]
        assert row["value"] == pytest.approx(value, abs=1e-3), name
        assert "rule=6drepnet" in row["protocol"] and row["faces"] == 3
    assert errors.mean() < 2
    assert rows[("test", "MAE (6drepnet)")]["value"] == pytest.approx(errors.mean(), abs=1e-3)
    assert not any(metric == "MAE" for _, metric in rows)
    plain = run("biwi", root, checkpoint, tmp_path / "plain")  # the default: the paper's rule
    assert np.abs(d[:, 0]).mean() > 60
    assert plain[("test", "MAE_pitch")]["value"] == pytest.approx(np.abs(d[:, 0]).mean(), abs=1e-3)


def test_pose_rule_on_a_benchmark_without_head_pose_is_refused(tmp_path, capsys):
    root = w300.write(tmp_path / "300W")
    _, checkpoint = saved_model(tmp_path / "model", ["landmarks"])
    with pytest.raises(SystemExit):
        main(["--benchmark", "300w", "--root", str(root), "--checkpoint", checkpoint, "--pose_rule", "6drepnet"])
    assert "300w scores no head pose" in capsys.readouterr().err


def test_aflw2000_leaves_out_faces_past_99_degrees(tmp_path):
    root = aflw2000.write(tmp_path / "AFLW2000")
    model, checkpoint = saved_model(tmp_path / "model", ["headpose"])
    rows = run("aflw2000", root, checkpoint, tmp_path / "out")
    kept = [i for i, angles in enumerate(aflw2000.ANGLES) if max(map(abs, angles)) <= 99]
    images = [np.asarray(Image.open(root / f"image{i:05d}.jpg")) for i in kept]
    boxes = []
    import scipy.io

    for i in kept:
        boxes.append(tight_box(scipy.io.loadmat(root / f"image{i:05d}.mat")["pt2d"].T))
    predicted = [model.predict(im, boxes=b[None])[0].headpose for im, b in zip(images, boxes, strict=True)]
    targets = np.array([aflw2000.ANGLES[i] for i in kept])
    errors = np.abs(np.array([[p["pitch"], p["yaw"], p["roll"]] for p in predicted]) - targets).mean(0)
    assert rows[("test", "MAE_yaw")]["value"] == pytest.approx(errors[1], rel=1e-4, abs=1e-4)
    assert rows[("test", "MAE")]["faces"] == len(kept) == 2


def test_a_model_without_the_benchmarks_task_is_refused(tmp_path, capsys):
    root = biwi.write(tmp_path / "BIWI")
    _, checkpoint = saved_model(tmp_path / "model", ["gender"])
    with pytest.raises(SystemExit) as exit_info:
        main(["--benchmark", "biwi", "--root", str(root), "--checkpoint", checkpoint])
    assert exit_info.value.code == 2
    assert "none of the tasks biwi scores" in capsys.readouterr().err


def test_an_unknown_benchmark_is_refused_with_the_known_ones(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--benchmark", "300vw", "--root", str(tmp_path), "--checkpoint", str(tmp_path)])
    assert "300w" in capsys.readouterr().err


def test_wflw_subsets_and_empty_subsets(tmp_path, capsys):
    from tests.fake_data import wflw

    root = wflw.write(tmp_path / "WFLW")
    model, checkpoint = saved_model(tmp_path / "model", [{"class_path": "landmarks", "init_args": {"num_points": 98}}])
    rows = run("wflw", root, checkpoint, tmp_path / "out", "--batch_size", "2")
    from facexformer.data.datasets import WFLW

    errors = []
    for sample in WFLW(root, "test"):
        image = sample["image"].permute(1, 2, 0).numpy()
        target, box = sample["landmarks"].double().numpy(), sample["box"].double().numpy()
        errors.append(nme(model, image, target, box, [60], [72]))
    by_subset = {"test": [0, 1, 2], "pose": [0], "occlusion": [1], "blur": [1, 2]}
    for subset, faces in by_subset.items():
        expected = 100 * np.mean([errors[i] for i in faces])
        assert rows[(subset, "NME_io")]["value"] == pytest.approx(expected, rel=1e-4), subset
        assert rows[(subset, "FR@0.1")]["faces"] == len(faces)
    for subset in ("expression", "illumination", "makeup"):
        assert rows[(subset, "empty subset")]["faces"] == 0 and rows[(subset, "empty subset")]["value"] is None
    assert "nan" not in capsys.readouterr().out.lower()


def test_wflw_on_real_faces(tmp_path):
    """The four real WFLW test faces (two photos; their attribute flags are all 0, so every attribute subset is
    empty): the test row against the NME computed here."""
    model, checkpoint = saved_model(tmp_path / "model", [{"class_path": "landmarks", "init_args": {"num_points": 98}}])
    rows = run("wflw", SAMPLES / "wflw", checkpoint, tmp_path / "out", "--batch_size", "3")
    from facexformer.data.datasets import WFLW

    errors = []
    for sample in WFLW(SAMPLES / "wflw", "test"):
        image = sample["image"].permute(1, 2, 0).numpy()
        target, box = sample["landmarks"].double().numpy(), sample["box"].double().numpy()
        errors.append(nme(model, image, target, box, [60], [72]))
    assert rows[("test", "NME_io")]["value"] == pytest.approx(100 * np.mean(errors), rel=1e-4)
    assert rows[("test", "NME_io")]["faces"] == len(errors) == 4
    for subset in ("pose", "expression", "illumination", "makeup", "occlusion", "blur"):
        assert rows[(subset, "empty subset")]["faces"] == 0


def test_rafdb_accuracy_by_hand(tmp_path):
    from facexformer.data.datasets import RAFDB
    from tests.fake_data import rafdb

    root = rafdb.write(tmp_path / "RAF")
    model, checkpoint = saved_model(tmp_path / "model", ["expression"])
    rows = run("rafdb", root, checkpoint, tmp_path / "out")
    hits = []
    for sample in RAFDB(root, "test"):
        image = sample["image"].permute(1, 2, 0).numpy()
        predicted = model.predict(image, boxes=sample["box"].numpy()[None])[0].outputs["expression"]
        hits.append(predicted.index == int(sample["expression"]))
    assert rows[("test", "accuracy")]["value"] == pytest.approx(100 * np.mean(hits))
    assert rows[("test", "accuracy")]["faces"] == 3 and rows[("test", "accuracy")]["published"][0]["value"] == 88.24


def test_utkface_coral_age_mae_by_hand(tmp_path):
    from tests.fake_data import utkface

    root = utkface.write(tmp_path / "UTK")
    model, checkpoint = saved_model(tmp_path / "model", ["age", "gender"])
    rows = run("utkface", root, checkpoint, tmp_path / "out")
    errors = []
    for name in utkface.NAMES[:3]:  # the CORAL test file's faces (ages 21-60)
        image = np.asarray(Image.open(root / "UTKFace" / name))
        box = np.array([[0, 0, image.shape[1], image.shape[0]]])
        errors.append(abs(model.predict(image, boxes=box)[0].outputs["age"].years - int(name.split("_")[0])))
    assert rows[("test", "MAE_age")]["value"] == pytest.approx(np.mean(errors), rel=1e-4)
    assert rows[("test", "MAE_age")]["unit"] == "years" and rows[("test", "MAE_age")]["faces"] == 3
    assert {metric for _, metric in rows} == {"MAE_age"}  # gender: not in the CORAL protocol; no age-group row


def recall_at_precision(probs: np.ndarray, occluded: np.ndarray, min_precision: float = 0.8) -> float:
    """The highest recall over thresholds on P(occluded) whose precision is at least ``min_precision``."""
    best = 0.0
    for threshold in np.unique(probs):
        chosen = probs >= threshold
        precision = (chosen & occluded).sum() / chosen.sum()
        if precision >= min_precision:
            best = max(best, (chosen & occluded).sum() / occluded.sum())
    return best


def test_cofw_visibility_recall_by_hand(tmp_path):
    from facexformer.data.datasets import COFW

    root = cofw.write(tmp_path / "COFW")
    model, checkpoint = saved_model(tmp_path / "model", ["visibility"])
    rows = run("cofw_visibility", root, checkpoint, tmp_path / "out")
    probs, occluded = [], []
    for sample in COFW(root, "test"):
        image = sample["image"].permute(1, 2, 0).numpy()
        predicted = model.predict(image, boxes=sample["box"].numpy()[None])[0].outputs["visibility"]
        probs.append(np.asarray(predicted, dtype=np.float64))
        occluded.append(sample["visibility"].numpy() > 0.5)
    expected = recall_at_precision(np.concatenate(probs).ravel(), np.concatenate(occluded).ravel())
    assert rows[("test", "recall@80%precision")]["value"] == pytest.approx(100 * expected, abs=1e-4)
    assert rows[("test", "recall@80%precision")]["faces"] == 3


def test_aflw_box_normaliser_full_and_frontal(tmp_path):
    from facexformer.data.datasets import AFLW19
    from tests.fake_data import aflw

    root = aflw.write(tmp_path / "AFLW")
    model, checkpoint = saved_model(tmp_path / "model", [{"class_path": "landmarks", "init_args": {"num_points": 19}}])
    rows = run("aflw", root, checkpoint, tmp_path / "out")
    errors = []
    for sample, (_, box_size) in zip(AFLW19(root, "test"), aflw.FACES, strict=True):
        image = sample["image"].permute(1, 2, 0).numpy()
        predicted = model.predict(image, boxes=sample["box"].numpy()[None])[0].landmarks
        target = sample["landmarks"].double().numpy()
        errors.append(np.linalg.norm(np.asarray(predicted, dtype=np.float64) - target, axis=1).mean() / box_size)
    assert rows[("full", "NME_box")]["value"] == pytest.approx(100 * np.mean(errors), rel=1e-4)
    assert rows[("frontal", "NME_box")]["value"] == pytest.approx(100 * np.mean(errors[:2]), rel=1e-4)
    assert rows[("frontal", "NME_box")]["faces"] == 2


def test_celeba_mean_attribute_accuracy_by_hand(tmp_path):
    from facexformer.data.datasets import CelebA
    from tests.fake_data import celeba

    root = celeba.write(tmp_path / "CelebA")
    model, checkpoint = saved_model(tmp_path / "model", ["attributes"])
    rows = run("celeba", root, checkpoint, tmp_path / "out")
    hits = []
    for sample in CelebA(root, "test"):
        image = sample["image"].permute(1, 2, 0).numpy()
        probs = model.predict(image, boxes=sample["box"].numpy()[None])[0].outputs["attributes"]
        hits.append((np.array(list(probs.values())) >= 0.5) == (sample["attributes"].numpy() > 0.5))
    assert rows[("test", "accuracy")]["value"] == pytest.approx(100 * np.mean(hits), abs=1e-4)
    assert rows[("test", "accuracy")]["faces"] == 3 and rows[("test", "accuracy")]["published"][0]["value"] == 91.83


def test_fairface_accuracies_by_hand(tmp_path):
    from facexformer.data.datasets import FairFace
    from tests.fake_data import fairface

    root = fairface.write(tmp_path / "FairFace")
    model, checkpoint = saved_model(tmp_path / "model", ["age", "gender", "race"])
    run("fairface", root, checkpoint, tmp_path / "out")
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    hits: dict[str, list[bool]] = {"age": [], "gender": [], "race": []}
    for sample in FairFace(root, "val"):
        image = sample["image"].permute(1, 2, 0).numpy()
        outputs = model.predict(image, boxes=sample["box"].numpy()[None])[0].outputs
        hits["age"].append(outputs["age"].index == int(sample["age_group"]))
        hits["gender"].append(outputs["gender"].index == int(sample["gender"]))
        hits["race"].append(outputs["race"].index == int(sample["race"]))
    by_task = {row["task"]: row for row in rows}
    assert set(by_task) == {"age", "gender", "race"} and len(rows) == 3  # no age MAE: FairFace has no years
    assert by_task["age"]["metric"] == "group_accuracy"
    for task, values in hits.items():
        assert by_task[task]["value"] == pytest.approx(100 * np.mean(values)), task
        assert by_task[task]["faces"] == 3
