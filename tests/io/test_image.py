import numpy as np
import pytest
from PIL import Image

from facexformer.io.image import ImageDecodeError, decode_image, float_to_uint8, read_image


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("L", lambda rgb: Image.fromarray(rgb).convert("L")),
        ("LA", lambda rgb: Image.fromarray(rgb).convert("LA")),
        ("P", lambda rgb: Image.fromarray(rgb).quantize(16)),
        ("RGBA", lambda rgb: Image.fromarray(rgb).convert("RGBA")),
        ("I;16", lambda rgb: Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L")).astype(np.uint16) * 257)),
    ],
)
def test_modes_become_the_rgb_they_show(tmp_path, mode, make):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    image = make(rgb)
    image.save(tmp_path / "x.png")
    decoded = decode_image(tmp_path / "x.png")
    expected = (
        np.asarray(image.convert("RGB"))
        if mode != "I;16"
        else np.repeat(np.asarray(Image.fromarray(rgb).convert("L"))[..., None], 3, axis=-1)
    )
    assert decoded.dtype == np.uint8 and decoded.shape == (6, 7, 3)
    assert np.array_equal(decoded, expected)
    assert read_image(tmp_path / "x.png").shape == (3, 6, 7)


def test_bytes_and_floats(tmp_path):
    Image.new("RGB", (4, 3), (1, 2, 3)).save(tmp_path / "a.png")
    assert decode_image((tmp_path / "a.png").read_bytes()).shape == (3, 4, 3)
    (tmp_path / "b.png").write_bytes(b"GIF89a-nope")
    with pytest.raises(ImageDecodeError, match="b.png: cannot decode image"):
        decode_image(tmp_path / "b.png")
    with pytest.raises(ImageDecodeError, match=r"in \[0, 1\]"):
        float_to_uint8(np.array([0.5, 1.5]))
    assert float_to_uint8(np.array([0.0, 0.5, 1.0])).tolist() == [0, 128, 255]
