import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.geometry import CropWindow, crop_box
from facexformer.geometry.crop import CropSettings


def _image(width: int = 120, height: int = 90) -> torch.Tensor:
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_from_box_records_box_parameters_and_region():
    crop = CropWindow.from_box((10.4, 20.7, 50.9, 80.2), (100, 90), size=64, margin=0.25)
    assert crop.region == (0, 5, 61, 85)  # the released crop, by hand in tests/data/test_crop.py
    assert crop.box == (10.4, 20.7, 50.9, 80.2) and crop.image_size == (100, 90)
    assert crop.settings == CropSettings(size=64, margin=0.25) and crop.size == 64
    torch.testing.assert_close(crop.as_tensor(), torch.tensor([0.0, 5.0, 61.0, 85.0]))


def test_apply_image_is_pil_crop_and_resize():
    image = _image()
    crop = CropWindow.from_box((30.0, 20.0, 70.0, 80.0), (120, 90), size=32, interpolation="bilinear", clip=False)
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    left, top, width, height = crop.region
    expected = np.asarray(pil.crop((left, top, left + width, top + height)).resize((32, 32), Image.BILINEAR))
    assert torch.equal(crop.apply_image(image), torch.from_numpy(expected.copy()).permute(2, 0, 1))
    assert torch.equal(crop.apply_image(pil), crop.apply_image(image))
    with pytest.raises(ValueError, match="made for"):
        crop.apply_image(_image(60, 60))


def test_invert_points_undoes_apply_points_for_every_crop_kind():
    points = torch.rand(7, 2, dtype=torch.float64) * torch.tensor([120.0, 90.0], dtype=torch.float64)
    for settings in (
        {},
        {"square": True},
        {"square": "inner", "zoom": 0.875},
        {"clip": False, "margin": 0.6},
        {"margin": (0.4, 0.4, 0.56, 0.168), "clip": False},
    ):
        crop = CropWindow.from_box((40.0, 10.0, 80.0, 85.0), (120, 90), size=56, **settings)
        moved = crop.apply_points(points)
        assert not torch.allclose(moved, points)
        torch.testing.assert_close(crop.invert_points(moved), points)


def test_square_modes_zoom_and_side_margins_by_hand():
    box = (30.0, 40.0, 70.0, 60.0)  # 40 x 20, centre (50, 50)
    assert crop_box(box, (200, 200), margin=0.0, square="outer") == (30, 30, 40, 40)
    assert crop_box(box, (200, 200), margin=0.0, square="inner") == (40, 40, 20, 20)
    assert crop_box(box, (200, 200), margin=0.0, square="inner", zoom=0.5) == (45, 45, 10, 10)
    # left 0.5 * 40 = 20, top 0, right 0.25 * 40 = 10, bottom 1.0 * 20 = 20
    assert crop_box(box, (200, 200), margin=(0.5, 0.0, 0.25, 1.0)) == (10, 40, 70, 40)
    with pytest.raises(ValueError, match="square"):
        crop_box(box, (200, 200), square="diamond")
    with pytest.raises(ValueError, match="margin"):
        crop_box(box, (200, 200), margin=(0.1, 0.2))


def test_apply_mask_then_paste_mask_restores_labels_inside_the_region():
    mask = torch.arange(90 * 120).reshape(90, 120) % 7
    crop = CropWindow.from_box((30.0, 20.0, 70.0, 60.0), (120, 90), size=48, margin=0.1)  # region 36 x 48 -> 48
    cropped = crop.apply_mask(mask)
    assert cropped.shape == (48, 48) and cropped.dtype == mask.dtype
    pasted = crop.paste_mask(cropped)
    left, top, width, height = crop.region
    assert pasted.shape == (90, 120)
    # nearest-exact down and up between 44 and 48 pixels keeps most labels; outside the region is 0.
    inside = pasted[top : top + height, left : left + width] == mask[top : top + height, left : left + width]
    assert inside.float().mean() > 0.9
    assert pasted[:top].eq(0).all() and pasted[:, left + width :].eq(0).all()


def test_paste_mask_identity_crop_and_bilinear_maps():
    crop = CropWindow.from_box((0.0, 0.0, 16.0, 16.0), (16, 16), size=16, margin=0.0)
    labels = torch.randint(0, 5, (16, 16))
    assert torch.equal(crop.paste_mask(labels), labels)
    logits = torch.randn(3, 16, 16)
    torch.testing.assert_close(crop.paste_mask(logits, mode="bilinear"), logits)
    with pytest.raises(ValueError, match="mode"):
        crop.paste_mask(logits, mode="bicubic")


def test_crop_faces_is_the_training_crop_for_every_face():
    from facexformer.data.crop import CropFace
    from facexformer.geometry import crop_faces

    image = _image()
    boxes = [(10.0, 10.0, 50.0, 70.0), (60.5, 5.0, 118.0, 60.0)]
    settings = CropSettings(size=40, square=True, interpolation="bilinear")
    pixels, crops = crop_faces(image, boxes, settings)
    assert pixels.shape == (2, 3, 40, 40) and pixels.dtype == torch.uint8
    transform = CropFace(size=40, square=True, interpolation="bilinear")
    for box, face, crop in zip(boxes, pixels, crops, strict=True):
        expected = transform({"image": image, "box": torch.tensor(box)})
        assert torch.equal(face, expected["image"]) and torch.equal(crop.as_tensor(), expected["crop"])
    empty, none = crop_faces(image, [], settings)
    assert empty.shape == (0, 3, 40, 40) and none == []
