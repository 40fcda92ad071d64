import pytest
import torch

from facexformer.data.augment import AugmentOptions, FaceAugment
from facexformer.data.collate import collate_multitask
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.synthetic import SyntheticFaces
from facexformer.geometry.landmark_schemes import scheme_for
from facexformer.tasks import Attributes, HeadPose, Landmarks, Parsing, Visibility

TASKS = [Landmarks(), HeadPose(), Parsing(), Visibility(), Attributes()]


def make_batch(n: int = 4, size: int = 64, seed: int = 0) -> dict:
    dataset = SyntheticFaces(32, size, seed=seed)
    batch = collate_multitask([dataset[i] for i in range(n)])
    batch["image"] = batch["image"].float() / 255
    return batch


def centroid_x(labels: torch.Tensor, cls: int) -> torch.Tensor:
    ys, xs = (labels == cls).nonzero(as_tuple=True)
    return xs.float().mean()


def only(**kwargs):
    options = {"flip": 0.0, "affine": 0.0, "gamma": 0.0, "blur": 0.0, "grayscale": 0.0, "erase": 0.0}
    return FaceAugment(TASKS, **{**options, **kwargs})


def test_flip_mirrors_every_label_consistently():
    batch = make_batch()
    before = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}
    out = only(flip=1.0)(batch)
    size = 64
    torch.testing.assert_close(out["image"], before["image"].flip(-1))
    index = torch.tensor(scheme_for(68).flip_index)
    expected = before["landmarks"][:, index].clone()
    expected[..., 0] = size - 1 - expected[..., 0]
    torch.testing.assert_close(out["landmarks"], expected)
    expected_pose = before["headpose"] * torch.tensor([1.0, -1.0, -1.0])
    torch.testing.assert_close(out["headpose"], expected_pose)
    torch.testing.assert_close(out["visibility"], before["visibility"][:, torch.tensor(scheme_for(29).flip_index)])
    torch.testing.assert_close(out["attributes"], before["attributes"])
    # semantic sides survive: the image-left eye is still class 4 and point 36 is still left of point 45
    for labels, points in zip(out["parsing"], out["landmarks"], strict=True):
        if (labels == 4).any() and (labels == 5).any():
            assert centroid_x(labels, 4) < centroid_x(labels, 5)
        assert points[36, 0] < points[45, 0] or points[36, 0].isnan()


def test_flip_swaps_parsing_classes_exactly():
    batch = make_batch(2)
    before = batch["parsing"].clone()
    out = only(flip=1.0)(batch)
    swap = torch.tensor([0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10])
    torch.testing.assert_close(out["parsing"], swap[before.flip(-1)])


def test_affine_moves_keypoints_with_the_pixels():
    batch = make_batch(3)
    batch["task_mask"].pop("headpose")  # let every sample rotate
    image = torch.zeros_like(batch["image"])
    points = torch.tensor([[20.0, 30.0], [40.0, 12.0], [33.0, 44.0]])
    for i, (x, y) in enumerate(points.long()):
        image[i, :, y, x] = 1.0
    batch["image"] = image
    batch["landmarks"][:, 0] = points
    out = only(affine=1.0, rotate=30.0, translate=0.1, scale=(0.8, 1.2))(batch, seed=3)
    for i in range(3):
        brightest = out["image"][i, 0].flatten().argmax()
        y, x = divmod(int(brightest), 64)
        assert abs(out["landmarks"][i, 0, 0] - x) <= 1.0 and abs(out["landmarks"][i, 0, 1] - y) <= 1.0


def test_head_pose_samples_are_not_rotated():
    batch = make_batch(4)
    matrices = only(affine=1.0, rotate=45.0, translate=0.0, scale=(1.0, 1.0)).affine_matrices(batch, 64)
    torch.testing.assert_close(matrices[:, :, :2], torch.eye(2).expand(4, 2, 2))
    batch["task_mask"].pop("headpose")
    rotated = only(affine=1.0, rotate=45.0, translate=0.0, scale=(1.0, 1.0)).affine_matrices(batch, 64)
    assert (rotated[:, 0, 1].abs() > 1e-3).all()


def test_photometric_changes_leave_labels_alone():
    batch = make_batch(4)
    before = {k: batch[k].clone() for k in ("landmarks", "parsing", "headpose")}
    image = batch["image"].clone()
    out = only(gamma=1.0, blur=1.0, grayscale=1.0, erase=1.0)(batch, seed=0)
    assert not torch.equal(out["image"], image)
    for key, value in before.items():
        assert torch.equal(out[key], value)


@pytest.mark.parametrize("seed", [0, 5])
def test_seeded_augmentation_is_reproducible_and_keeps_global_rng(seed):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = FaceAugment(TASKS)(make_batch(4), seed=seed)
    assert torch.equal(torch.get_rng_state(), state)
    b = FaceAugment(TASKS)(make_batch(4), seed=seed)
    for key in ("image", "landmarks", "parsing"):
        assert torch.equal(a[key], b[key])


def test_augment_options_refuse_misspelt_keys_and_bad_values():
    with pytest.raises(TypeError, match="flipp"):
        MultiTaskDataModule(augment={"flipp": 0.5})
    with pytest.raises(ValueError, match="augment.flip is a probability"):
        AugmentOptions(flip=1.5)
    with pytest.raises(ValueError, match="augment.scale"):
        AugmentOptions(scale=(1.2, 0.8))
    augment = FaceAugment.from_options(TASKS, AugmentOptions(flip=0.0, rotate=5.0))
    assert (augment.flip_p, augment.rotate, augment.scale) == (0.0, 5.0, AugmentOptions().scale)
    assert MultiTaskDataModule(augment={"erase": 0.0}).augment_options == AugmentOptions(erase=0.0)


def test_resized_crop_moves_keypoints_with_the_pixels():
    batch = make_batch(3)
    image = torch.zeros_like(batch["image"])
    points = torch.tensor([[30.0, 34.0], [36.0, 28.0], [31.0, 31.0]])
    for i, (x, y) in enumerate(points.long()):
        image[i, :, y, x] = 1.0
    batch["image"] = image
    batch["landmarks"][:, 0] = points
    augment = only(resize=1.0, resize_scale=(0.6, 0.8))
    matrices = augment.affine_matrices(make_batch(3), 64)
    zoom = matrices[:, 0, 0]
    assert ((zoom >= 1 / 0.8 - 1e-5) & (zoom <= 1 / 0.6 + 1e-5)).all() and torch.equal(zoom, matrices[:, 1, 1])
    out = augment(batch, seed=3)
    for i in range(3):
        y, x = divmod(int(out["image"][i, 0].flatten().argmax()), 64)
        assert abs(out["landmarks"][i, 0, 0] - x) <= 1.0 and abs(out["landmarks"][i, 0, 1] - y) <= 1.0


def test_resized_crop_stays_inside_the_image():
    augment = only(resize=1.0, resize_scale=(0.5, 0.5))
    matrices = augment.affine_matrices(make_batch(8), 64)
    corners = torch.tensor([[0.0, 0.0, 1.0], [63.0, 63.0, 1.0]])
    # the source square that lands on the output's corners lies inside the source image
    inverse = torch.linalg.inv(torch.cat([matrices, torch.tensor([[[0.0, 0.0, 1.0]]]).expand(8, 1, 3)], 1))
    source = corners @ inverse.transpose(1, 2)
    assert (source[..., :2] >= -1e-4).all() and (source[..., :2] <= 63 + 1e-4).all()
    torch.testing.assert_close(source[:, 1, :2] - source[:, 0, :2], torch.full((8, 2), 31.5))


def test_per_task_settings_apply_to_that_task_only():
    batch = make_batch(4)
    masks = batch["task_mask"]
    for name in masks:
        masks[name] = torch.zeros(4, dtype=torch.bool)
    masks["headpose"] = torch.tensor([True, True, False, False])
    masks["landmarks"] = torch.tensor([False, False, True, True])
    image = batch["image"].clone()
    augment = only(flip=1.0, per_task={"headpose": {"flip": 0.0, "grayscale": 1.0}})
    assert augment.option_choice(batch).tolist() == [1, 1, 0, 0]
    out = augment(batch, seed=0)
    torch.testing.assert_close(out["image"][2:], image[2:].flip(-1))  # base: mirrored, colour kept
    grey = out["image"][:2]
    assert torch.allclose(grey[:, 0], grey[:, 1]) and not torch.allclose(grey, image[:2])  # override: grey, unmirrored
    assert not torch.allclose(image[:2, 0], image[:2, 1])


def test_per_task_settings_are_checked():
    with pytest.raises(TypeError, match=r"augment.tasks.headpose: unknown field\(s\) \['flipp'\]"):
        AugmentOptions(tasks={"headpose": {"flipp": 0.0}})
    with pytest.raises(ValueError, match=r"augment.tasks.headpose: augment.flip is a probability"):
        AugmentOptions(tasks={"headpose": {"flip": 2.0}})
    with pytest.raises(ValueError, match="augment.resize_scale"):
        AugmentOptions(resize_scale=(0.8, 1.2))
    options = MultiTaskDataModule(augment={"resize": 0.3, "tasks": {"visibility": {"affine": 0.0}}}).augment_options
    assert options.for_task("visibility").affine == 0.0 and options.for_task("landmarks").affine == options.affine
    augment = FaceAugment.from_options(TASKS, options)
    assert [o.resize for o in augment.options] == [0.3, 0.3] and augment.override_tasks == ["visibility"]
