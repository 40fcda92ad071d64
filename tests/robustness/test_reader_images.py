"""Every reader x every broken or unusual image: a clear error, a counted skip, or a faithful decode.

Broken images (truncated, zero-byte, wrong type, decompression bomb) raise ``DatasetImageError`` naming the
file when loaded, or, with ``skip_invalid=True``, are replaced by another sample of the same dataset, counted
(``dataset.skipped``) and warned about, while every good sample still loads. Valid images in other encodings
(16-bit grey, CMYK, palette, grayscale, RGBA) decode to the RGB they show.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from facexformer.data.datasets.base import DatasetFormatError, DatasetImageError
from facexformer.io.image import ImageDecodeError
from tests.robustness.hostile import BROKEN, READERS, RECODED, assert_clear

PROBLEM_WORDS = {
    "truncated": "truncated",
    "zero-byte": "empty file",
    "wrong-type": "not a recognised image format",
    "decompression-bomb": "decompression-bomb limit",
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_broken_image_is_a_clear_error(tmp_path, reader, broken):
    built = READERS[reader](tmp_path / "data")
    bad = built.images[0]
    BROKEN[broken](bad)
    dataset = built.open()
    with pytest.raises(DatasetImageError) as caught:
        dataset[0]
    assert isinstance(caught.value, ImageDecodeError) and isinstance(caught.value, DatasetFormatError)
    assert_clear(caught.value, str(bad), PROBLEM_WORDS[broken])


@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_broken_image_is_a_counted_skip(tmp_path, reader, broken):
    built = READERS[reader](tmp_path / "data")
    bad = built.images[0]
    BROKEN[broken](bad)
    dataset = built.open(skip_invalid=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = [dataset[i] for i in range(len(dataset))]
    affected = sum(path == bad for path in built.images)
    assert dataset.skipped >= affected >= 1
    assert any(str(bad) in str(w.message) and "skip_invalid=True" in str(w.message) for w in caught)
    good = [i for i, path in enumerate(built.images) if path != bad]
    good_sources = {dataset.load(i)["source"] for i in good}
    for index, sample in enumerate(samples):  # good samples load as themselves, bad ones are replaced by good
        if index in good:
            assert sample["source"] == dataset.load(index)["source"]
        else:
            assert sample["source"] in good_sources


@pytest.mark.parametrize("encoding", sorted(RECODED))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_other_encodings_decode_faithfully(tmp_path, reader, encoding):
    built = READERS[reader](tmp_path / "data")
    target = built.images[0]
    recode, tolerance = RECODED[encoding]
    expected = recode(target)
    dataset = built.open()
    index = built.images.index(target)
    image = dataset[index]["image"].permute(1, 2, 0).numpy()
    assert image.shape == expected.shape and image.dtype == np.uint8
    difference = np.abs(image.astype(np.int16) - expected.astype(np.int16)).mean()
    assert difference <= tolerance, f"{encoding}: mean difference {difference:.2f} grey levels"
    if encoding == "16-bit":  # scaled, not clipped: as many saturated pixels as the 8-bit original
        assert (image == 255).mean() == pytest.approx((expected == 255).mean())
