import numpy as np
import pytest
import torch
from PIL import Image

from facexformer.data.crop import CropFace, crop_box, crop_points, uncrop_points
from facexformer.tasks import Label, Task


def _sample(width: int = 100, height: int = 90, box=(10.4, 20.7, 50.9, 80.2)) -> dict:
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
    return {"image": image, "box": torch.tensor(box), "tasks": ("landmarks",), "source": "hand"}


def test_crop_box_released_numbers_by_hand():
    # width 40.5 -> 10.125 a side: 0.275 -> 0, 61.025 -> 61; height 59.5 -> 14.875: 5.825 -> 5, 95.075 -> 90.
    assert crop_box((10.4, 20.7, 50.9, 80.2), (100, 90)) == (0, 5, 61, 85)
    # away from the borders: 40 x 20 box -> 10 and 5 pixels a side, truncated.
    assert crop_box((30.9, 40.5, 70.9, 60.5), (200, 200)) == (20, 35, 60, 30)


def test_crop_box_square_and_no_clip():
    assert crop_box((30.0, 40.0, 70.0, 60.0), (200, 200), margin=0.0, square=True) == (30, 30, 40, 40)
    assert crop_box((0.0, 0.0, 40.0, 40.0), (50, 50), clip=False) == (-10, -10, 60, 60)
    assert crop_box((0.0, 0.0, 40.0, 40.0), (50, 50), clip=True) == (0, 0, 50, 50)


def test_crop_box_rejects_bad_or_empty_boxes():
    with pytest.raises(ValueError, match="not a finite"):
        crop_box((10.0, 10.0, 5.0, 20.0), (50, 50))
    with pytest.raises(ValueError, match="empty crop"):
        crop_box((80.0, 80.0, 90.0, 90.0), (50, 50))


def test_uncrop_inverts_crop_points():
    points = torch.rand(2, 3, 5, 2, dtype=torch.float64) * 300
    crop = torch.tensor(
        [[12.0, -4.0, 130.0, 170.0], [0.0, 7.0, 61.0, 85.0], [3.0, 3.0, 224.0, 224.0]], dtype=torch.float64
    )
    cropped = crop_points(points, crop, 224)
    assert not torch.allclose(cropped, points)
    torch.testing.assert_close(uncrop_points(cropped, crop, 224), points)


def test_pixel_centre_convention_edges():
    crop = torch.tensor([10.0, 20.0, 40.0, 80.0])
    edges = torch.tensor([[9.5, 19.5], [49.5, 99.5]])  # outer edges of the crop's border pixels
    torch.testing.assert_close(crop_points(edges, crop, 224), torch.tensor([[-0.5, -0.5], [223.5, 223.5]]))


def test_image_matches_released_pipeline():
    sample = _sample()
    out = CropFace()(sample)
    pil = Image.fromarray(sample["image"].permute(1, 2, 0).numpy())
    x0, y0, x1, y1 = 10.4, 20.7, 50.9, 80.2
    dx, dy = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    region = (int(max(0, x0 - dx)), int(max(0, y0 - dy)), int(min(100, x1 + dx)), int(min(90, y1 + dy)))
    expected = np.asarray(pil.crop(region).resize((224, 224), Image.Resampling.BICUBIC))
    assert out["image"].shape == (3, 224, 224) and out["image"].dtype == torch.uint8
    assert torch.equal(out["image"], torch.from_numpy(expected.copy()).permute(2, 0, 1))
    torch.testing.assert_close(out["crop"], torch.tensor([0.0, 5.0, 61.0, 85.0]))
    assert out["box"] is sample["box"] and out["tasks"] == ("landmarks",)


def test_landmarks_follow_the_pixels():
    # nearest upsampling x2: original pixel (u, v) becomes a 2x2 block whose centre is the mapped landmark.
    image = torch.zeros(3, 40, 40, dtype=torch.uint8)
    image[:, 17, 13] = 255
    box = torch.tensor([10.0, 10.0, 30.0, 30.0])
    sample = {"image": image, "box": box, "landmarks": torch.tensor([[13.0, 17.0], [float("nan"), 0.0]])}
    out = CropFace(size=40, margin=0.0, interpolation="nearest")(sample)
    rows, cols = torch.nonzero(out["image"][0] == 255, as_tuple=True)
    block_centre = torch.stack([cols.double().mean(), rows.double().mean()]).float()
    torch.testing.assert_close(out["landmarks"][0], block_centre)
    assert torch.isnan(out["landmarks"][1, 0])


def test_parsing_is_cut_and_resized_nearest_with_zero_outside():
    parsing = torch.arange(16, dtype=torch.int64).reshape(4, 4) + 1
    sample = {
        "image": torch.zeros(3, 4, 4, dtype=torch.uint8),
        "box": torch.tensor([0.0, 0.0, 4.0, 4.0]),
        "parsing": parsing,
    }
    out = CropFace(size=8, margin=0.25, clip=False, interpolation="nearest")(sample)
    torch.testing.assert_close(out["crop"], torch.tensor([-1.0, -1.0, 6.0, 6.0]))
    assert out["parsing"].dtype == torch.int64 and out["parsing"].shape == (8, 8)
    assert out["parsing"][0].eq(0).all() and out["parsing"][:, 0].eq(0).all()
    # crop pixel 4 (8 px for 6 source px) samples source column floor((4 + 0.5) * 6 / 8) - 1 = 2.
    assert out["parsing"][4, 4] == parsing[2, 2]
    assert out["image"][:, 0, 0].eq(0).all()


def test_bad_image_and_empty_box_name_the_source():
    with pytest.raises(TypeError, match="hand"):
        CropFace()({"image": torch.zeros(3, 8, 8), "box": torch.tensor([0.0, 0.0, 4.0, 4.0]), "source": "hand"})
    sample = _sample(box=(200.0, 200.0, 210.0, 210.0))
    with pytest.raises(ValueError, match="hand: crop_box"):
        CropFace()(sample)
    with pytest.raises(ValueError, match="interpolation"):
        CropFace(interpolation="lanczos3")


def test_real_sample_round_trip(shared_dir):
    from facexformer.data.datasets.wflw import WFLW

    dataset = WFLW(shared_dir / "reference/landmarks/samples/wflw", "test", transform=CropFace())
    raw = WFLW(shared_dir / "reference/landmarks/samples/wflw", "test")
    for index in (0, 3):
        out, original = dataset[index], raw[index]
        assert out["image"].shape == (3, 224, 224)
        assert out["landmarks"].min() > -1 and out["landmarks"].max() < 224  # the face lies inside its crop
        restored = uncrop_points(out["landmarks"].double(), out["crop"].double(), 224)
        torch.testing.assert_close(restored.float(), original["landmarks"], atol=1e-4, rtol=0)


def test_box_source_channel_order_and_recorded_crop():
    sample = _sample(width=100, height=90)
    sample["landmarks"] = torch.tensor([[20.0, 30.0], [60.0, 70.0]])
    whole = CropFace(size=50, margin=0.0, box="image")(sample)
    torch.testing.assert_close(whole["crop"], torch.tensor([0.0, 0.0, 100.0, 90.0]))
    assert whole["image_size"].tolist() == [100, 90]
    tight = CropFace(size=50, margin=0.0, box="landmarks")(sample)
    torch.testing.assert_close(tight["crop"], torch.tensor([20.0, 30.0, 40.0, 40.0]))
    rgb, bgr = CropFace(size=50)(sample), CropFace(size=50, channels="bgr")(sample)
    assert torch.equal(bgr["image"], rgb["image"].flip(0))
    with pytest.raises(ValueError, match="box source"):
        CropFace(box="detector")
    with pytest.raises(ValueError, match="channel order"):
        CropFace(channels="bgra")
    with pytest.raises(KeyError, match="hand"):
        CropFace(box="landmarks")(_sample())


def test_bad_settings_are_refused_naming_the_option():
    for kwargs, message in (
        ({"size": 0}, "size"),
        ({"margin": -0.1}, "margin"),
        ({"margin": [0.1, 0.2]}, "margin"),
        ({"square": "round"}, "square"),
        ({"zoom": 0.0}, "zoom"),
    ):
        with pytest.raises(ValueError, match=f"CropFace: .*{message}"):
            CropFace(**kwargs)


def test_every_declared_keypoint_and_mask_label_is_cropped_like_the_released_ones(task_registry):
    class Marks(Task):
        name = "test_marks"
        labels = (Label("test_points", "keypoints"), Label("test_map", "mask"), Label("test_flags", "vector"))

    parsing = torch.arange(16, dtype=torch.int64).reshape(4, 4) + 1
    points = torch.tensor([[0.5, 1.0], [3.0, 2.5], [float("nan"), 1.0]])
    flags = torch.tensor([1.0, 0.0])
    sample = {
        "image": torch.zeros(3, 4, 4, dtype=torch.uint8),
        "box": torch.tensor([0.0, 0.0, 4.0, 4.0]),
        "landmarks": points,
        "test_points": points.clone(),
        "parsing": parsing,
        "test_map": parsing.clone(),
        "test_flags": flags,
    }
    out = CropFace(size=8, margin=0.25, clip=False, interpolation="nearest")(sample)
    torch.testing.assert_close(out["test_points"], out["landmarks"], equal_nan=True)
    assert not torch.equal(out["test_points"][:2], points[:2])
    assert torch.equal(out["test_map"], out["parsing"]) and out["test_map"].shape == (8, 8)
    assert out["test_flags"] is flags and Marks.keypoint_keys == ("test_points",)
