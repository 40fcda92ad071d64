"""SyntheticFaces: determinism, the sample contract, and labels that agree with what is drawn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from facexformer.data.synthetic import RENDERERS, SyntheticFaces, renderable_tasks
from facexformer.data.synthetic.face_model import cap_outline, deform, mean_face, pose_rotation
from facexformer.data.synthetic.labels import visibility
from facexformer.data.synthetic.render import render
from facexformer.data.synthetic.traits import EXPRESSION_SHAPES, sample_traits
from facexformer.tasks import TASKS, Label, Task

SIZE = 96
ATTR = {
    "Bald": 4,
    "Black_Hair": 8,
    "Blond_Hair": 9,
    "Brown_Hair": 11,
    "Eyeglasses": 15,
    "Goatee": 16,
    "Gray_Hair": 17,
    "Male": 20,
    "Mouth_Slightly_Open": 21,
    "Mustache": 22,
    "No_Beard": 24,
    "Smiling": 31,
    "Wearing_Lipstick": 36,
    "Young": 39,
}


@pytest.fixture(scope="module")
def samples() -> list[dict]:
    ds = SyntheticFaces(num_samples=120, size=SIZE, seed=7)
    return [ds[i] for i in range(len(ds))]


def _quiet_traits(seed: int = 0, **changes):
    """Traits with nothing in front of the face, frontal unless ``pose`` is given."""
    base = sample_traits(np.random.default_rng(seed))
    fixed = dict(
        pose=np.zeros(3),
        centre=np.zeros(2),
        face_height=0.5,
        occluder="none",
        glasses="none",
        bangs=False,
        hat=False,
        eye_open=1.0,
        blur=0.0,
    )
    fixed.update(changes)
    return dataclasses.replace(base, **fixed)


def test_same_index_gives_same_item_across_calls_and_instances() -> None:
    a, b = SyntheticFaces(10, SIZE, seed=3), SyntheticFaces(10, SIZE, seed=3)
    first, again, other = a[4], a[4], b[4]
    b[0]  # a different access order must not matter
    for key in ("image", *(k for k in first if k not in ("tasks", "source", "image"))):
        assert torch.equal(first[key], again[key]), key
        assert torch.equal(first[key], other[key]), key
    assert first["source"] == "SyntheticFaces(seed=3)[4]"


def test_different_seeds_and_indices_differ() -> None:
    assert not torch.equal(SyntheticFaces(5, SIZE, seed=0)[1]["image"], SyntheticFaces(5, SIZE, seed=1)[1]["image"])
    ds = SyntheticFaces(5, SIZE, seed=0)
    assert not torch.equal(ds[1]["landmarks"], ds[2]["landmarks"])


def test_every_key_has_the_contract_shape_and_dtype(samples: list[dict]) -> None:
    expected = {
        "image": ((3, SIZE, SIZE), torch.uint8),
        "box": ((4,), torch.float32),
        "landmarks": ((68, 2), torch.float32),
        "headpose": ((3,), torch.float32),
        "visibility": ((29,), torch.float32),
        "parsing": ((SIZE, SIZE), torch.int64),
        "attributes": ((40,), torch.float32),
        "age": ((), torch.float32),
        "age_group": ((), torch.int64),
        "gender": ((), torch.int64),
        "race": ((), torch.int64),
        "expression": ((), torch.int64),
    }
    for s in samples[:5]:
        assert s["tasks"] == renderable_tasks()
        for key, (shape, dtype) in expected.items():
            assert tuple(s[key].shape) == shape and s[key].dtype == dtype, key
        assert set(s["visibility"].unique().tolist()) <= {0.0, 1.0}
        assert set(s["attributes"].unique().tolist()) <= {0.0, 1.0}
        assert int(s["parsing"].min()) >= 0 and int(s["parsing"].max()) <= 10
        assert torch.allclose(s["box"], torch.cat([s["landmarks"].min(0).values, s["landmarks"].max(0).values]))


def test_tasks_argument_limits_the_labels_and_rejects_unknown_names() -> None:
    item = SyntheticFaces(2, SIZE, tasks=("landmarks", "age"))[0]
    assert item["tasks"] == ("landmarks", "age")
    assert {"landmarks", "age", "age_group"} <= item.keys()
    assert not {"parsing", "headpose", "attributes", "visibility", "gender"} & item.keys()
    with pytest.raises(ValueError, match="unknown task"):
        SyntheticFaces(2, SIZE, tasks=("landmarks", "pose"))
    with pytest.raises(IndexError):
        SyntheticFaces(2, SIZE)[2]


def test_transform_is_applied() -> None:
    item = SyntheticFaces(2, SIZE, transform=lambda s: {**s, "marker": 1})[0]
    assert item["marker"] == 1


def test_cache_renders_each_item_once_and_returns_the_same_item(monkeypatch) -> None:
    plain, cached = SyntheticFaces(3, SIZE, seed=4), SyntheticFaces(3, SIZE, seed=4, cache=True)
    made = []
    make = cached._make
    monkeypatch.setattr(cached, "_make", lambda index: made.append(index) or make(index))
    first = [cached[i] for i in (0, 1, 0, -3, 1)]
    assert made == [0, 1]
    for item, index in zip(first, (0, 1, 0, 0, 1), strict=True):
        expected = plain[index]
        assert item["source"] == expected["source"]
        torch.testing.assert_close(item["image"], expected["image"])
        torch.testing.assert_close(item["landmarks"], expected["landmarks"])


def test_a_transform_cannot_replace_cached_entries() -> None:
    faces = SyntheticFaces(1, SIZE, cache=True, transform=lambda s: s.update(image=None) or s)
    assert faces[0]["image"] is None
    assert faces._cache[0]["image"] is not None


def test_landmarks_lie_inside_the_image_for_most_samples(samples: list[dict]) -> None:
    inside = [bool(((s["landmarks"] >= 0) & (s["landmarks"] <= SIZE - 1)).all()) for s in samples]
    assert np.mean(inside) >= 0.9


def test_headpose_ranges(samples: list[dict]) -> None:
    pose = torch.stack([s["headpose"] for s in samples])
    assert pose[:, 0].abs().max() <= 40 and pose[:, 1].abs().max() <= 75 and pose[:, 2].abs().max() <= 30
    assert pose[:, 1].abs().max() > 45  # large yaws do occur


def test_parsing_agrees_with_landmarks_on_frontal_faces(samples: list[dict]) -> None:
    checked = 0
    for s in samples:
        pitch, yaw, _ = s["headpose"].tolist()
        if abs(yaw) > 20 or abs(pitch) > 20 or s["visibility"].any():
            continue
        lm, parsing = s["landmarks"], s["parsing"]
        x, y = lm[30].round().long().tolist()
        assert parsing[y, x] == 6, s["source"]  # nose tip in the nose class
        for cls in range(1, 10):
            if cls != 8:
                assert (parsing == cls).any(), (s["source"], cls)
        left_x = torch.nonzero(parsing == 2)[:, 1].float().mean()
        right_x = torch.nonzero(parsing == 3)[:, 1].float().mean()
        assert left_x < lm[27, 0] < right_x  # LaPa "left" brow is on the image's left
        checked += 1
    assert checked >= 3


def test_positive_yaw_moves_the_nose_to_the_image_left(samples: list[dict]) -> None:
    checked = 0
    for s in samples:
        pitch, yaw, roll = s["headpose"].tolist()
        if abs(yaw) < 30 or abs(roll) > 15:
            continue
        lm = s["landmarks"]
        offset = lm[30, 0] - (lm[0, 0] + lm[16, 0]) / 2
        assert np.sign(offset) == -np.sign(yaw), s["source"]
        checked += 1
    assert checked >= 10


def test_pose_rotation_signs_and_mirror_symmetry() -> None:
    face = mean_face()
    nose, eyes = face[30], face[36:48].mean(axis=0)
    up = pose_rotation(np.array([25.0, 0.0, 0.0]))
    assert (up @ nose)[1] - (up @ eyes)[1] < nose[1] - eyes[1]  # +pitch: nose rises towards the eyes
    clockwise = pose_rotation(np.array([0.0, 0.0, 20.0]))
    assert (clockwise @ face[45])[1] > (clockwise @ face[36])[1]  # +roll: image-right eye goes down
    mirror = np.diag([-1.0, 1.0, 1.0])
    angles = np.array([12.0, 35.0, -8.0])
    flipped = pose_rotation(angles * np.array([1.0, -1.0, -1.0]))
    assert np.allclose(mirror @ pose_rotation(angles) @ mirror, flipped)


def test_occluders_and_self_occlusion_set_visibility() -> None:
    rng = np.random.default_rng(0)
    clear = _quiet_traits()
    out = render(clear, SIZE, rng)
    assert visibility(out, clear).sum() == 0
    masked = _quiet_traits(occluder="mask")
    out = render(masked, SIZE, np.random.default_rng(0))
    flags = visibility(out, masked)
    assert flags[22:28].all() and not flags[8:18].any()  # mouth hidden, eyes visible
    turned = _quiet_traits(pose=np.array([0.0, 75.0, 0.0]))
    flags = visibility(render(turned, SIZE, np.random.default_rng(0)), turned)
    assert flags[8] == 1 and flags[9] == 0  # far (image-left) outer eye corner hidden, near one visible
    sunglasses = _quiet_traits(glasses="sun")
    flags = visibility(render(sunglasses, SIZE, np.random.default_rng(0)), sunglasses)
    assert flags[16:18].all()  # pupils behind dark lenses


def test_glasses_and_blur_are_visible_cues() -> None:
    plain = _quiet_traits(seed=2)
    base = render(plain, SIZE, np.random.default_rng(1))
    dark = render(dataclasses.replace(plain, glasses="sun"), SIZE, np.random.default_rng(1))
    x0, y0 = np.floor(base.landmarks[36:48].min(axis=0)).astype(int)
    x1, y1 = np.ceil(base.landmarks[36:48].max(axis=0)).astype(int)
    assert dark.image[y0:y1, x0:x1].mean() < base.image[y0:y1, x0:x1].mean() - 20
    blurred = render(dataclasses.replace(plain, blur=3.0), SIZE, np.random.default_rng(1))
    sharpness = [np.abs(np.diff(im.image.astype(float), axis=1)).mean() for im in (base, blurred)]
    assert sharpness[1] < 0.85 * sharpness[0]


def test_attributes_follow_their_cues(samples: list[dict]) -> None:
    for s in samples:
        a = {name: bool(s["attributes"][i]) for name, i in ATTR.items()}
        hair = [a["Black_Hair"], a["Blond_Hair"], a["Brown_Hair"], a["Gray_Hair"]]
        assert sum(hair) == (0 if a["Bald"] else 1)
        assert a["Male"] == (int(s["gender"]) == 0)
        if a["Goatee"] or a["Mustache"]:
            assert a["Male"] and not a["No_Beard"]
        if a["Wearing_Lipstick"]:
            assert not a["Male"]
        assert a["Smiling"] == (int(s["expression"]) == 1)
        if int(s["expression"]) == 3:
            assert a["Mouth_Slightly_Open"]
        assert a["Young"] == (float(s["age"]) < 35)
        assert int(s["age_group"]) == min(int(float(s["age"]) // 10), 7)
        assert s["attributes"][[2, 37, 38]].sum() == 0  # documented constants
    rates = torch.stack([s["attributes"] for s in samples]).mean(0)
    assert ((rates > 0) & (rates < 1)).sum() >= 25  # most attributes vary


def test_open_mouth_and_sneer_show_in_the_parsing() -> None:
    closed = _quiet_traits(seed=4, expression=0, mouth_open=0.0, smile=0.0, lip_raise=0.0, teeth="none")
    open_ = dataclasses.replace(closed, expression=3, mouth_open=15.0)
    sneer = dataclasses.replace(closed, expression=5, lip_raise=7.0, teeth="upper")
    inner = [int((render(t, SIZE, np.random.default_rng(0)).parsing == 8).sum()) for t in (closed, open_, sneer)]
    assert inner[0] == 0 and inner[1] > 10 and inner[2] > 3


def _expression_traits(expression: int, seed: int = 4):
    """Frontal quiet traits with ``expression``'s mid-range shape, so only the expression differs."""
    shape = EXPRESSION_SHAPES[expression]
    return _quiet_traits(
        seed=seed,
        expression=expression,
        mouth_open=float(np.mean(shape.mouth_open)),
        smile=float(np.mean(shape.smile)),
        eye_open=float(np.mean(shape.eye_open)),
        brow_raise=shape.brow_raise,
        brow_inner=shape.brow_inner,
        lip_raise=shape.lip_raise,
        stretch=shape.stretch,
        teeth=shape.teeth,
    )


def test_every_pair_of_expressions_differs_by_a_cue_visible_at_64_px() -> None:
    """Some landmark moves >= 7 mm (about 1.5 px at 64 px) between any two classes, or teeth show in one only."""
    faces = {e: deform(_expression_traits(e)) for e in EXPRESSION_SHAPES}
    for a in EXPRESSION_SHAPES:
        for b in range(a + 1, len(EXPRESSION_SHAPES)):
            largest = np.linalg.norm(faces[a][:, :2] - faces[b][:, :2], axis=1).max()
            assert largest >= 7.0, (a, b, largest)


def test_teeth_show_only_where_the_expression_bares_them() -> None:
    bright = {}
    for e, shape in EXPRESSION_SHAPES.items():
        out = render(_expression_traits(e), SIZE, np.random.default_rng(0))
        mouth = out.parsing == 8
        bright[e] = int((out.image[mouth].min(axis=1) > 90).sum())  # the inner mouth is (45, 12, 18) before light
        assert (bright[e] > 0) == (shape.teeth != "none"), (e, bright[e])
    assert bright[4] > bright[1]  # fear shows both rows


def test_mean_face_asset_matches_the_reference(shared_dir) -> None:
    ref = np.loadtxt(shared_dir / "reference/face3d/mean_face_68.txt")
    face = mean_face()
    assert face.shape == (68, 3)
    keep = [i for i in range(68) if i not in (61, 62, 63, 65, 66, 67)]  # inner lips are closed on load
    assert np.array_equal(face[keep], ref[keep])
    assert np.allclose(face[[61, 62, 63], 1], face[[67, 66, 65], 1])


def test_cap_outline_regions() -> None:
    w = np.array([0.0, 0.0, 1.0])
    full = cap_outline(w, None, 0.0)
    assert np.allclose(full @ w, 0.0) and np.allclose(np.linalg.norm(full, axis=1), 1.0)
    assert len(cap_outline(w, np.array([0.0, 0.0, 1.0]), 0.5)) == 0  # cap entirely behind
    top = cap_outline(w, np.array([0.0, -1.0, 0.0]), 0.3)
    assert len(top) > 0 and (top @ np.array([0.0, -1.0, 0.0]) >= 0.3 - 1e-9).all() and (top @ w <= 1e-9).all()


def test_tasks_it_can_label_follow_the_registry_and_its_renderers(task_registry) -> None:
    built_in = [name for name in renderable_tasks() if TASKS[name].__module__.startswith("facexformer.")]
    keys = {key for name in built_in for key in TASKS[name].label_keys}
    assert keys == {*RENDERERS, "age_group"}  # age_group is derived
    assert "recognition" in TASKS and "recognition" not in renderable_tasks()  # identities are not rendered

    class Turn(Task):  # renders the pose, derives its own label from it: synthetic data with no edit here
        name = "test_turn"
        labels = (Label("headpose", "vector", (3,)), Label("test_turn", "class", derive=lambda s: s["headpose"][1] > 0))

    class Gaze(Task):
        name = "test_gaze"
        labels = (Label("headpose", "vector", (3,)), Label("test_gaze", "vector", (2,)))

    assert "test_turn" in renderable_tasks() and "test_gaze" not in renderable_tasks()
    assert "test_turn" in SyntheticFaces(1, SIZE).tasks  # the default list is taken when a dataset is built
    item = SyntheticFaces(1, SIZE, tasks=("test_turn",))[0]
    assert item["tasks"] == ("test_turn",) and item["headpose"].shape == (3,)
    assert item["test_turn"].dtype == torch.int64 and item["test_turn"] == int(item["headpose"][1] > 0)
    with pytest.raises(
        ValueError, match=r"cannot render task\(s\) \['recognition', 'test_gaze'\].*'test_gaze': \['test_gaze'\]"
    ):
        SyntheticFaces(2, SIZE, tasks=("landmarks", "test_gaze", "recognition"))
    assert Turn.label_keys[:1] == Gaze.label_keys[:1]
