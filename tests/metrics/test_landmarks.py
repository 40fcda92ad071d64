"""NME / FR / AUC / CED against STAR's and HRNet's own numbers (metric_fixture_seed0), hand cases and DDP."""

import json
import math
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torchmetrics import MetricCollection

from facexformer.metrics.landmarks import (
    AUC,
    CED,
    NME,
    DegenerateTargets,
    FailureRate,
    NonFinitePredictions,
    ced_auc,
    ced_curve,
    failure_rate,
    nme_per_image,
    resolve_groups,
)

FIXTURE = "reference/landmarks/metric_fixture_seed0"
CASES = [
    ("68", "ocular_36_45_STAR_default_300W", "inter_ocular"),
    ("68", "pupil_mean36_41_mean42_47", "inter_pupil"),
    ("98", "ocular_60_72_STAR_default_WFLW", "inter_ocular"),
    ("98", "pupil_96_97", "inter_pupil"),
    ("29", "pupil_16_17_STAR_default_COFW", "inter_pupil"),
    ("29", "ocular_8_9", "inter_ocular"),
]


@pytest.fixture(scope="module")
def reference(shared_dir):
    with open(shared_dir / f"{FIXTURE}.json") as handle:
        expected = json.load(handle)["sets"]
    with np.load(shared_dir / f"{FIXTURE}.npz") as arrays:
        data = {key: torch.from_numpy(arrays[key]) for key in arrays.files}
    return expected, data


def _collection(normalization, num_landmarks, threshold):
    shared = {"normalization": normalization, "num_landmarks": num_landmarks}
    return MetricCollection(
        {
            "nme": NME(**shared),
            "fr": FailureRate(threshold, **shared),
            "auc": AUC(threshold, **shared),
            "ced": CED(threshold, **shared),
        },
        compute_groups=True,
    )


def _as_group(side):
    return tuple(side) if isinstance(side, list) else (side,)


@pytest.mark.parametrize(("points", "variant", "normalization"), CASES)
def test_matches_star_reference(reference, points, variant, normalization):
    expected, data = reference
    entry = expected[points]["nme"][variant]
    preds, target = data[f"pred_{points}"], data[f"gt_{points}"]
    groups = resolve_groups(normalization, int(points))
    assert groups == (_as_group(entry["nme_left_index"]), _as_group(entry["nme_right_index"]))

    per_image = nme_per_image(preds, target, normalization)
    torch.testing.assert_close(per_image, torch.tensor(entry["per_image"], dtype=torch.float64), rtol=1e-6, atol=0)
    for threshold in ("0.08", "0.10"):
        metrics = _collection(normalization, int(points), float(threshold))
        metrics.update(preds[:7], target[:7])
        metrics.update(preds[7:], target[7:])
        values = metrics.compute()
        assert values["nme"].item() == pytest.approx(entry["mean"], rel=1e-6)
        assert values["fr"].item() == pytest.approx(entry["fr_auc"][threshold]["fr_unrounded"], abs=1e-9)
        assert values["auc"].item() == pytest.approx(entry["fr_auc"][threshold]["auc_unrounded"], abs=1e-9)
        assert round(values["fr"].item(), 4) == entry["fr_auc"][threshold]["fr"]
        assert round(values["auc"].item(), 6) == entry["fr_auc"][threshold]["auc"]


@pytest.mark.parametrize("points", ["68", "98", "29"])
def test_ocular_matches_hrnet(reference, points):
    expected, data = reference
    per_image = nme_per_image(data[f"pred_{points}"], data[f"gt_{points}"], "inter_ocular")
    hrnet = torch.tensor(expected[points]["hrnet_compute_nme"]["per_image"], dtype=torch.float64)
    if points == "29":
        per_image = nme_per_image(data["pred_29"], data["gt_29"], "inter_ocular", indices=(8, 9))
    torch.testing.assert_close(per_image, hrnet, rtol=1e-6, atol=0)


def test_float32_inputs_within_documented_tolerance(reference):
    expected, data = reference
    entry = expected["98"]["nme"]["ocular_60_72_STAR_default_WFLW"]
    per_image = nme_per_image(data["pred_98"].float(), data["gt_98"].float())
    assert per_image.dtype == torch.float64
    torch.testing.assert_close(per_image, torch.tensor(entry["per_image"], dtype=torch.float64), rtol=1e-5, atol=0)


def test_compute_groups_share_one_state(reference):
    _, data = reference
    metrics = _collection("inter_ocular", 68, 0.1)
    metrics.update(data["pred_68"], data["gt_68"])
    assert [sorted(group) for group in metrics.compute_groups.values()] == [["auc", "ced", "fr", "nme"]]


def test_batch_split_invariance(reference):
    _, data = reference
    preds, target = data["pred_68"], data["gt_68"]
    whole = _collection("inter_pupil", 68, 0.1)
    whole.update(preds, target)
    split = _collection("inter_pupil", 68, 0.1)
    for chunk in torch.tensor_split(torch.arange(len(preds)), [1, 2, 17, 30]):
        split.update(preds[chunk], target[chunk])
    expected, actual = whole.compute(), split.compute()
    for key in ("nme", "fr", "auc"):
        assert actual[key].item() == expected[key].item()
    torch.testing.assert_close(actual["ced"], expected["ced"], rtol=0, atol=0)


def _tiny():
    target = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [5.0, 5.0]]] * 2, dtype=torch.float64)
    preds = target.clone()
    preds[0, 0] += torch.tensor([0.0, 1.0])  # error 1
    preds[0, 2] += torch.tensor([0.0, -2.0])  # error 2
    return preds, target  # image 0: mean point error 1; image 1: 0


def test_hand_computed_normalisations():
    preds, target = _tiny()
    point_error = torch.tensor([1.0, 0.0], dtype=torch.float64)
    ocular = nme_per_image(preds, target, indices=(0, 1))
    torch.testing.assert_close(ocular, point_error / 10)
    pupil = nme_per_image(preds, target, "inter_pupil", indices=((0, 2), 1))
    torch.testing.assert_close(pupil, point_error / math.hypot(7.5, 2.5))
    box = torch.tensor([[0.0, 0.0, 20.0, 5.0], [1.0, 1.0, 5.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(nme_per_image(preds, target, "bbox", box=box), point_error / torch.tensor([10.0, 2.0]))
    torch.testing.assert_close(nme_per_image(preds, target, "bbox"), point_error / math.sqrt(50.0))
    torch.testing.assert_close(nme_per_image(preds, target, "diagonal", box=box), point_error / math.hypot(20, 5))
    torch.testing.assert_close(nme_per_image(preds, target, "diagonal"), point_error / math.hypot(10, 5))
    torch.testing.assert_close(nme_per_image(preds, target, "none"), point_error)


def test_hand_computed_fr_auc_ced_inclusive_threshold():
    preds, target = _tiny()
    shared = {"num_landmarks": 3, "indices": (0, 1)}
    # NMEs 0.1 (exactly the threshold: not a failure) and 0.
    assert FailureRate(0.1, **shared)(preds, target).item() == 0.0
    assert FailureRate(0.0999, **shared)(preds, target).item() == 0.5
    grid, fraction = CED(0.1, **shared)(preds, target)
    assert len(grid) == 1001 and grid[-1].item() == pytest.approx(0.1, abs=1e-15)
    assert fraction[:-1].eq(0.5).all() and fraction[-1].item() == 1.0
    # Simpson: 0.5 over [0, 0.1], plus the last node's jump 0.5 weighted h / 3.
    auc = AUC(0.1, **shared)(preds, target).item()
    assert auc == pytest.approx((0.5 * 0.1 + 0.5 * 1e-4 / 3) / 0.1, abs=1e-9)
    assert NME(**shared)(preds, target).item() == pytest.approx(0.05, abs=1e-15)


def test_star_grid_artefact_at_005():
    grid, fraction = ced_curve(torch.tensor([0.01, 0.0501]), 0.05)
    assert len(grid) == 502
    assert grid[-1].item() == pytest.approx(0.0501, abs=1e-12)
    assert fraction[-1].item() == 1.0


def test_empty_state_is_nan():
    for metric in (NME(), FailureRate(), AUC()):
        with pytest.warns(UserWarning, match="before the ``update``"):
            assert math.isnan(metric.compute().item())
    with pytest.warns(UserWarning, match="before the ``update``"):
        grid, fraction = CED(0.08).compute()
    assert len(grid) == 801 and fraction.isnan().all()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="normalization"):
        NME("interocular")
    with pytest.raises(ValueError, match="no default inter_ocular points for 19"):
        NME("inter_ocular", num_landmarks=19)
    with pytest.raises(ValueError, match="takes no indices"):
        NME("bbox", num_landmarks=19, indices=(0, 1))
    with pytest.raises(ValueError, match=r"\[0, 68\)"):
        NME(indices=(0, 68))
    with pytest.raises(ValueError, match="built for 68 landmarks"):
        NME().update(torch.zeros(1, 98, 2), torch.zeros(1, 98, 2))
    with pytest.raises(ValueError, match="equal shape"):
        NME().update(torch.zeros(1, 67, 2), torch.zeros(1, 68, 2))
    with pytest.raises(ValueError, match=r"not positive for batch rows \[0\]"):
        nme_per_image(torch.zeros(1, 68, 2), torch.zeros(1, 68, 2))
    with pytest.raises(ValueError, match=r"box must be \(B, 4\)"):
        NME("bbox", num_landmarks=19).update(torch.rand(2, 19, 2), torch.rand(2, 19, 2), box=torch.rand(2, 5))
    with pytest.raises(ValueError, match="threshold"):
        AUC(threshold=0.0)


def test_plot_without_matplotlib_says_so(monkeypatch):
    preds, target = _tiny()
    metric = CED(num_landmarks=3, indices=(0, 1))
    metric.update(preds, target)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for plotted in (metric, NME(num_landmarks=3, indices=(0, 1))):
        with pytest.raises(ModuleNotFoundError, match="pip install matplotlib"):
            plotted.plot()


def test_plot_with_matplotlib():
    pytest.importorskip("matplotlib")
    preds, target = _tiny()
    metric = CED(num_landmarks=3, indices=(0, 1))
    metric.update(preds, target)
    figure, ax = metric.plot()
    assert figure is not None and len(ax.lines) == 1


def _ddp_worker(rank, store, out, preds, target, shards):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        results = {}
        for name, shard in shards.items():
            metrics = _collection("inter_ocular", 68, 0.1)
            for chunk in shard[rank]:
                metrics.update(preds[chunk], target[chunk])
            results[name] = metrics.compute()
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_equal_single_process(reference, tmp_path):
    _, data = reference
    preds, target = data["pred_68"], data["gt_68"]
    index = torch.arange(len(preds))
    shards = {
        "uneven": [[index[:9], index[9:30]], [index[30:]]],
        "rank1_empty": [[index[:25], index[25:]], []],
    }
    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(out), preds, target, shards), nprocs=2)
    single = _collection("inter_ocular", 68, 0.1)
    single.update(preds, target)
    expected = single.compute()
    for values in torch.load(out, weights_only=True).values():
        for key in ("nme", "fr", "auc"):
            assert values[key].item() == pytest.approx(expected[key].item(), rel=1e-12, abs=1e-12)
        torch.testing.assert_close(values["ced"], expected["ced"], rtol=0, atol=0)


def test_distance_overrides_the_normalisation_where_finite():
    target = torch.tensor([[[0.0, 0.0], [10.0, 40.0]], [[0.0, 0.0], [4.0, 9.0]]], dtype=torch.float64)
    preds = target + torch.tensor([3.0, 4.0], dtype=torch.float64)  # every point 5 px off
    errors = nme_per_image(preds, target, "bbox", distance=torch.tensor([25.0, float("nan")]))
    # row 0: the given 25 px; row 1 (NaN): the landmark extent's sqrt(4 * 9) = 6 px
    torch.testing.assert_close(errors, torch.tensor([5 / 25, 5 / 6], dtype=torch.float64))
    metric = NME(normalization="inter_ocular", num_landmarks=2, indices=(0, 1))
    metric.update(preds, target, distance=torch.tensor([50.0, 2.5]))
    assert metric.compute().item() == pytest.approx((5 / 50 + 5 / 2.5) / 2)
    with pytest.raises(ValueError, match="distance must be"):
        nme_per_image(preds, target, "bbox", distance=torch.ones(3))


def test_nan_errors_fail_at_every_threshold():
    """1000 images, 500 NaN errors, 500 uniform in [0, 0.2]: 750 fail at 0.1; the CED tops out at 0.25."""
    errors = torch.cat([torch.linspace(0, 0.2, 500, dtype=torch.float64), torch.full((500,), math.nan)])
    errors = errors[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]
    assert float(failure_rate(errors, 0.1)) == pytest.approx(0.75, abs=1e-3)
    assert float(ced_auc(errors, 0.1)) == pytest.approx(0.125, abs=1e-3)
    _, fraction = ced_curve(errors, 0.1)
    assert float(fraction.max()) <= 0.2505


def _face_68(batch: int) -> torch.Tensor:
    points = torch.rand(batch, 68, 2, generator=torch.Generator().manual_seed(1)) * 100 + 50
    points[:, 36] = torch.tensor([60.0, 80.0])
    points[:, 45] = torch.tensor([140.0, 80.0])
    return points


def test_nan_predictions_are_counted_failures_and_missing_targets_are_masked():
    target = _face_68(4)
    preds = target + 0.8  # NME 0.8 * sqrt(2) / 80 ~ 0.014 everywhere
    preds[1, 10] = math.nan  # a NaN prediction at an annotated point: the image fails
    target[2, 20] = math.nan  # a missing ground-truth point: left out of image 2's mean
    preds[2, 20] = 1e6
    metrics = MetricCollection(
        {
            "nme": NME(),
            "fr": FailureRate(0.05),
            "auc": AUC(0.05),
            "nonfinite": NonFinitePredictions(),
            "degenerate": DegenerateTargets(),
        },
        compute_groups=True,
    )
    metrics.update(preds, target)
    values = {key: float(value) for key, value in metrics.compute().items()}
    assert math.isnan(values["nme"])
    assert values["nonfinite"] == 1 and values["degenerate"] == 0
    assert values["fr"] == pytest.approx(0.25)
    per_image = metrics["nme"].per_image()
    assert torch.allclose(per_image[[0, 2, 3]], torch.full((3,), 0.8 * math.sqrt(2) / 80, dtype=torch.float64))


def test_degenerate_ground_truth_is_skipped_and_counted_not_fatal():
    target = _face_68(3)
    target[1, 45] = target[1, 36]  # zero inter-ocular distance
    target[2] = math.nan  # no annotated point at all
    metric, degenerate = NME(), DegenerateTargets()
    metric.update(target + 1.0, target)
    degenerate.update(target + 1.0, target)
    assert metric.per_image().shape == (1,)
    assert float(degenerate.compute()) == 2
    assert math.isfinite(float(metric.compute()))


def test_a_process_without_batches_gathers_a_float64_placeholder_after_a_move():
    """torchmetrics builds the empty placeholder of a list state from the public ``Metric.dtype`` (which it
    resets to float32 on ``.to()``); ``NME`` overrides ``dtype`` so the gather is float64 like the errors.
    This fails if torchmetrics stops building the placeholder from ``dtype``."""
    gathered: list[torch.dtype] = []

    def gather(tensor: torch.Tensor, group: object = None) -> list[torch.Tensor]:
        gathered.append(tensor.dtype)
        return [tensor]

    metric = NME().to("cpu")
    metric.sync(dist_sync_fn=gather, distributed_available=lambda: True)
    assert gathered and set(gathered) == {torch.float64}
    assert metric.per_image().dtype == torch.float64
