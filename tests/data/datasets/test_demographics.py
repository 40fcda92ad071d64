import pytest
import torch

from facexformer.data.datasets.demographics import (
    RACE_ORDERS,
    UTKFACE_RACES,
    age_to_group,
    demographics_sample,
    resolve_race_order,
)


def test_race_order_validation():
    assert resolve_race_order(["Others", "Indian", "Asian", "Black", "White"])["White"] == 4
    with pytest.raises(ValueError, match="permutation"):
        resolve_race_order(["White", "Black", "Asian", "Indian", "Latino"])
    with pytest.raises(ValueError, match="unknown race_order"):
        resolve_race_order("fairface")


def test_age_to_group_edges():
    assert [age_to_group(a) for a in (0, 9.9, 10, 59, 60, 69.5, 70, 100)] == [0, 0, 1, 5, 6, 6, 7, 7]
    with pytest.raises(ValueError):
        age_to_group(float("nan"))


def test_named_race_orders():
    assert resolve_race_order("utkface") == {"White": 0, "Black": 1, "Asian": 2, "Indian": 3, "Others": 4}
    assert RACE_ORDERS["utkface"] == UTKFACE_RACES
    assert resolve_race_order("paper")["Indian"] == 2 and resolve_race_order("paper")["Asian"] == 3
    assert set(RACE_ORDERS) == {"utkface", "paper"}


def test_demographics_sample_dtypes_and_whole_image_box():
    sample = demographics_sample(torch.zeros(3, 4, 6, dtype=torch.uint8), "chip.jpg", float("nan"), 7, 1, 2)
    assert sample["tasks"] == ("age", "gender", "race") and sample["source"] == "chip.jpg"
    assert sample["box"].tolist() == [0.0, 0.0, 6.0, 4.0] and sample["box"].dtype == torch.float32
    assert sample["age"].dtype == torch.float32 and sample["age"].isnan()
    assert [sample[k].item() for k in ("age_group", "gender", "race")] == [7, 1, 2]
    assert all(sample[k].dtype == torch.int64 for k in ("age_group", "gender", "race"))
