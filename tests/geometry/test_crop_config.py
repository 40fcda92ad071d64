"""The crop a model saves: ``CropSettings`` <-> a JSON-able dict."""

import json

import pytest

from facexformer.geometry.crop import CropSettings
from facexformer.geometry.crop_config import crop_config, crop_settings_from


def test_a_per_side_margin_survives_a_json_round_trip():
    settings = CropSettings(size=64, margin=(0.1, 0.2, 0.3, 0.4), square="outer", zoom=1.2)
    config = crop_config(settings, 64)
    assert config["margin"] == [0.1, 0.2, 0.3, 0.4] and config["square"] == "outer"
    assert crop_settings_from(json.loads(json.dumps(config)), 64) == settings


def test_no_crop_is_the_released_crop_and_a_dict_takes_the_network_size():
    assert crop_settings_from(None, 64) == CropSettings(size=64)
    assert crop_config({"zoom": 1.5}, 96) == {**crop_config(None, 96), "zoom": 1.5}


def test_a_crop_of_another_size_or_form_is_refused():
    with pytest.raises(ValueError, match="crop size 224 differs from image_size 64"):
        crop_config(CropSettings(), 64)
    with pytest.raises(ValueError, match="crop size 32 differs from image_size 64"):
        crop_settings_from({"size": 32}, 64)
    with pytest.raises(TypeError, match="a CropSettings or a dict of its fields, got str"):
        crop_settings_from("bicubic", 64)  # type: ignore[arg-type]
