import re
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from facexformer.data.synthetic import SyntheticFaces
from facexformer.data.synthetic.face_model import pose_rotation
from facexformer.inference.predict import ClassPrediction, FacePrediction
from facexformer.inference.visualize import (
    AXIS_COLOURS,
    LAPA_PALETTE,
    draw_headpose_axes,
    draw_landmarks,
    draw_overlay,
    draw_parsing,
    plot_ced,
    pose_axes_2d,
)
from facexformer.metrics.landmarks import ced_auc, ced_curve, failure_rate

BLACK = np.zeros((40, 50, 3), dtype=np.uint8)


def test_palette_is_lapas(shared_dir):
    text = (shared_dir / "reference/tasks/TASKS.md").read_text()
    section = text.split("### 2.2")[1].split("###")[0]
    rows = re.findall(r"^\| (\d+) \| [^|]+ \| (\d+),(\d+),(\d+) \|", section, flags=re.M)
    assert len(rows) == 11
    colours = [tuple(int(v) for v in row[1:]) for row in sorted(rows, key=lambda r: int(r[0]))]
    assert colours == list(LAPA_PALETTE)


def test_draw_landmarks():
    points = np.array([[10.0, 20.0], [np.nan, 3.0], [40.0, 5.0]])
    out = np.asarray(draw_landmarks(BLACK, points, radius=1))
    assert tuple(out[20, 10]) == (0, 255, 0) and tuple(out[5, 40]) == (0, 255, 0)
    assert tuple(out[30, 30]) == (0, 0, 0)
    lit = (out.sum(-1) > 0).sum()
    numbered = np.asarray(draw_landmarks(BLACK, torch.tensor(points), indices=True, radius=1))
    with_indices = (numbered.sum(-1) > 0).sum()
    assert with_indices > lit
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        draw_landmarks(BLACK, np.zeros((3, 3)))


def test_draw_parsing_blends_lapa_colours_and_adds_a_legend():
    image = np.full((40, 50, 3), 100, dtype=np.uint8)
    labels = np.zeros((40, 50), dtype=np.int64)
    labels[5:15, 5:15] = 6
    labels[20:30, 20:30] = 10
    full = np.asarray(draw_parsing(image, labels, alpha=1.0, legend=False))
    assert full.shape == image.shape
    assert tuple(full[10, 10]) == LAPA_PALETTE[6] and tuple(full[25, 25]) == LAPA_PALETTE[10]
    assert tuple(full[35, 45]) == (100, 100, 100)
    half = np.asarray(draw_parsing(image, labels, alpha=0.5, legend=False))
    assert tuple(half[10, 10]) == tuple(round(0.5 * 100 + 0.5 * c) for c in LAPA_PALETTE[6])
    with_legend = draw_parsing(image, labels, alpha=0.5)
    assert with_legend.width > 50
    panel = np.asarray(with_legend)[:, 50:]
    for colour in (LAPA_PALETTE[6], LAPA_PALETTE[10]):
        assert (panel == colour).all(-1).any()
    assert not (panel == LAPA_PALETTE[1]).all(-1).any()
    with pytest.raises(ValueError, match="do not match"):
        draw_parsing(image, labels[:10])


@pytest.mark.parametrize("angles", [(0, 0, 0), (10, 40, -20), (-25, -60, 15), (30, 0, 0), (0, 0, 30)])
def test_axes_follow_the_synthetic_renderers_pose(angles):
    rotation = pose_rotation(np.array(angles, dtype=float))
    expected = (np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=float) @ rotation.T)[:, :2]
    np.testing.assert_allclose(pose_axes_2d(*angles), expected, atol=1e-12)


def test_axes_signs():
    assert pose_axes_2d(0, 45, 0)[2, 0] < 0  # +yaw: nose to the image's left
    assert pose_axes_2d(30, 0, 0)[2, 1] < 0  # +pitch: face looks up
    assert pose_axes_2d(0, 0, 30)[0, 1] > 0  # +roll: clockwise, the image-right side goes down


def test_forward_axis_points_where_the_rendered_nose_points():
    faces = SyntheticFaces(40, size=128, seed=0, tasks=["landmarks", "headpose"])
    checked = 0
    for sample in faces:
        pitch, yaw, roll = sample["headpose"].tolist()
        if abs(yaw) < 35:
            continue
        points = sample["landmarks"].numpy()
        nose_offset = points[30, 0] - points[[0, 16], 0].mean()  # nose tip vs the ear-line jaw ends
        blank = np.zeros((128, 128, 3), np.uint8)
        canvas = draw_headpose_axes(blank, pitch, yaw, roll, (64, 64), 50, width=1)
        blue = np.argwhere((np.asarray(canvas) == AXIS_COLOURS[2]).all(-1))
        tip_x = blue[np.abs(blue[:, 1] - 64).argmax(), 1] - 64
        assert np.sign(tip_x) == np.sign(nose_offset) == -np.sign(yaw), (pitch, yaw, roll)
        checked += 1
    assert checked >= 5


def test_draw_overlay():
    parsing = np.zeros((40, 50), dtype=np.uint8)
    parsing[10:30, 10:30] = 1
    face = FacePrediction(
        box=(10.0, 10.0, 30.0, 30.0),
        crop=(5, 5, 30, 30),
        landmarks=np.array([[20.0, 20.0]] * 68),
        headpose={"pitch": 0.0, "yaw": 50.0, "roll": 0.0},
        parsing=parsing,
        gender=ClassPrediction("female", 1, {"male": 0.2, "female": 0.8}),
    )
    out = draw_overlay(BLACK, [face, face])
    assert out.height == 40 and out.width > 50
    pixels = np.asarray(out)
    assert (pixels[:, :50] == (255, 255, 0)).all(-1).any()  # box
    assert tuple(pixels[20, 20]) == (0, 255, 0)  # landmark over parsing
    assert (pixels[:, :50] == AXIS_COLOURS[2]).all(-1).any()
    assert draw_overlay(BLACK, face, legend=False).size == (50, 40)


def test_plot_ced_annotates_auc_and_fr():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    errors = torch.tensor([0.01, 0.03, 0.05, 0.2])
    figure, ax = plot_ced(errors, threshold=0.1, label="val")
    text = ax.get_legend().get_texts()[0].get_text()
    assert f"AUC@0.1 = {ced_auc(errors, 0.1).item():.4f}" in text
    assert f"FR = {failure_rate(errors, 0.1).item():.4f}" in text
    _, ax2 = plot_ced(ced_curve(errors, 0.1), threshold=0.1, label="val")
    assert ax2.get_legend().get_texts()[0].get_text() == text
    with pytest.raises(ValueError, match="1-D curves"):
        plot_ced((np.zeros(3), np.zeros(4)))


def test_plot_ced_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ModuleNotFoundError, match="pip install matplotlib"):
        plot_ced([0.1])


def _dot_pixels(picture: Image.Image, colour=(0, 255, 0)) -> int:
    return int((np.asarray(picture) == colour).all(-1).sum())


def test_landmark_dots_scale_with_the_face_not_the_photo():
    """68 points on a 60-pixel face and on a 600-pixel face of the same 800-pixel photo: the dots of the small
    face stay apart (radius about 1/90 of the face), those of the large one grow."""
    photo = np.zeros((800, 800, 3), np.uint8)
    unit = np.stack([np.cos(np.linspace(0, 2 * np.pi, 68, endpoint=False)), np.sin(np.linspace(0, 2 * np.pi, 68))], 1)
    small = draw_landmarks(photo, 400 + 30 * unit)
    large = draw_landmarks(photo, 400 + 300 * unit)
    per_dot_small, per_dot_large = _dot_pixels(small) / 68, _dot_pixels(large) / 68
    assert per_dot_small <= 9  # about one pixel across: 68 dots around a 60-pixel circle do not merge
    assert per_dot_large > 5 * per_dot_small


def test_captions_have_a_dark_band_and_stay_inside_the_picture():
    from facexformer.tasks.drawing import CAPTION_COLOUR, Overlay

    overlay = Overlay(Image.new("RGB", (200, 120), (255, 255, 255)))
    box = (170.0, 60.0, 199.0, 110.0)  # near the right border
    overlay.caption(box, "female")
    overlay.caption(box, "white")
    out = np.asarray(overlay.render())
    yellow = (out == CAPTION_COLOUR).all(-1)
    columns = np.flatnonzero(yellow.any(0))
    assert columns.size and columns.max() < 199  # the text's right end is inside, not cut
    assert columns.min() < 170  # shifted left to make room
    rows = np.flatnonzero(yellow.any(1))
    band = out[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    assert not (band == 255).all(-1).any() and (band == 0).all(-1).any()  # dark band, no white photo behind letters
    assert rows.max() < 60  # above the box


def test_captions_of_neighbouring_faces_do_not_cover_each_other():
    """Two faces side by side near the top (a crowd photo): the second caption moves below its box instead of
    being drawn over the first one."""
    from facexformer.tasks.drawing import CAPTION_COLOUR, Overlay, caption_font, draw_caption

    left, right = (10.0, 30.0, 70.0, 90.0), (60.0, 28.0, 120.0, 88.0)
    draw, font = ImageDraw.Draw(Image.new("RGB", (300, 200))), caption_font(200)
    first = draw_caption(draw, "70+ male others sadness", left, font, (300, 200))
    second = draw_caption(draw, "20-29 female white disgust", right, font, (300, 200), [first])
    assert first[3] <= left[1]  # above its box
    assert second[1] >= right[3]  # below its box: above, it would cover the first caption
    assert not (first[0] < second[2] and second[0] < first[2] and first[1] < second[3] and second[1] < first[3])
    alone = draw_caption(draw, "20-29 female white disgust", right, font, (300, 200))
    assert alone[3] <= right[1]  # with nothing in the way it stays above
    overlay = Overlay(Image.new("RGB", (300, 200), (255, 255, 255)))
    overlay.caption(left, "70+ male others sadness")
    overlay.caption(right, "20-29 female white disgust")
    yellow = (np.asarray(overlay.render()) == CAPTION_COLOUR).all(-1)
    assert yellow[: int(left[1])].any() and yellow[int(right[3]) :].any()  # render places them the same way


def test_render_scale_enlarges_the_picture_and_keeps_marks_on_their_pixels():
    from facexformer.tasks.drawing import Overlay

    overlay = Overlay(Image.new("RGB", (32, 32)))
    overlay.points(np.array([[8.0, 8.0]]), (0, 255, 0), radius=1)
    out = np.asarray(overlay.render(scale=4))
    assert out.shape == (128, 128, 3)
    ys, xs = np.nonzero((out == (0, 255, 0)).all(-1))
    assert abs(xs.mean() - (8.5 * 4 - 0.5)) < 1 and abs(ys.mean() - (8.5 * 4 - 0.5)) < 1
