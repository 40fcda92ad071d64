import os
import sys
import threading
import warnings

import numpy as np
import pytest
import torch

from facexformer.inference import pipeline
from facexformer.inference.pipeline import BackgroundWriter, pipelined_predict
from facexformer.inference.predict import predict
from facexformer.module import FaceXFormer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FaceXFormer(backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64).eval()


@pytest.fixture(scope="module")
def photos(shared_dir):
    """The real sample photos (300W, AFLW, WFLW)."""
    found = sorted(
        p for p in (shared_dir / "reference" / "landmarks" / "samples").rglob("*") if p.suffix in (".jpg", ".png")
    )
    assert len(found) == 6
    return found


@pytest.mark.parametrize("workers", [0, 2])
def test_pipelined_predictions_equal_the_sequential_ones(model, photos, workers):
    sequential = predict(model, photos, batch_size=3)
    results = list(pipelined_predict(model, photos, batch_size=3, workers=workers))
    assert [r.path for r in results] == [str(p) for p in photos]
    assert all(r.error is None for r in results)
    pipelined = [face for r in results for face in r.faces]
    assert len(pipelined) == len(sequential) >= len(photos)
    per_photo = [sum(f.image_index == i for f in sequential) for i in range(len(photos))]
    assert [len(r.faces) for r in results] == per_photo
    for ours, theirs in zip(pipelined, sequential, strict=True):
        # DataLoader workers detect with one torch thread: MTCNN's boxes agree to float rounding (1.5e-5 px seen)
        np.testing.assert_allclose(ours.box, theirs.box, rtol=0, atol=1e-3)
        assert ours.image_index == 0 and ours.crop == theirs.crop
        assert ours.source == theirs.source
        np.testing.assert_array_equal(ours.landmarks, theirs.landmarks)
        np.testing.assert_array_equal(ours.parsing, theirs.parsing)
        assert ours.headpose == theirs.headpose and ours.attributes == theirs.attributes
        assert ours.age == theirs.age
    assert results[0].image.shape[:2] == sequential[0].parsing.shape


def test_outputs_are_mapped_to_photos_while_the_next_batch_runs(model, photos, monkeypatch):
    """The first batch's mapping waits for the second batch's forward pass: run one after the other, it would
    wait its full timeout."""
    second_forward, threads, waited = threading.Event(), [], []
    forward, to_photo = pipeline.forward_faces, pipeline.faces_in_photos

    def counted_forward(*args):
        threads.append(threading.current_thread().name)
        if len(threads) == 2:
            second_forward.set()
        return forward(*args)

    def waiting_to_photo(*args):
        waited.append(second_forward.wait(timeout=20))
        return to_photo(*args)

    monkeypatch.setattr(pipeline, "forward_faces", counted_forward)
    monkeypatch.setattr(pipeline, "faces_in_photos", waiting_to_photo)
    results = list(pipelined_predict(model, photos, batch_size=2, workers=0))
    assert len(threads) >= 3 and set(threads) == {"MainThread"}
    assert waited[0] is True
    assert sum(len(r.faces) for r in results) == sum(len(r.faces) for r in pipelined_predict(model, photos, workers=0))


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # Linux: the calling thread's


def _whole_photo_reporting_niceness(image: np.ndarray) -> np.ndarray:
    warnings.warn(f"detector niceness {_niceness()}", stacklevel=2)
    return np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)


@pytest.mark.skipif(sys.platform != "linux", reason="niceness is per thread on Linux only")
def test_workers_and_the_mapping_thread_run_at_lower_priority(model, photos, monkeypatch):
    to_photo, mapped = pipeline.faces_in_photos, []

    def reporting_to_photo(*args):
        mapped.append(_niceness())
        return to_photo(*args)

    monkeypatch.setattr(pipeline, "faces_in_photos", reporting_to_photo)
    before = _niceness()
    expected = min(before + 10, 19)
    results = list(
        pipelined_predict(model, photos[:2], batch_size=1, detector=_whole_photo_reporting_niceness, workers=1)
    )
    assert [r.notes for r in results] == [[f"detector niceness {expected}"]] * 2
    assert mapped == [expected] * 2 and _niceness() == before  # the network's thread keeps its priority


def test_a_bad_file_is_reported_and_the_rest_run(model, photos, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    results = list(pipelined_predict(model, [photos[0], broken, photos[1]], batch_size=2, workers=1))
    assert [r.error is None for r in results] == [True, False, True]
    assert "broken.jpg" in results[1].error and results[1].faces == []
    assert results[2].faces and results[2].faces[0].landmarks.shape == (68, 2)


def test_background_writer_waits_and_reports_errors():
    written = []
    writer = BackgroundWriter()
    for i in range(5):
        writer.submit(written.append, i)
    writer.close()
    assert written == [0, 1, 2, 3, 4]

    def fail() -> None:
        raise OSError("disk full")

    writer = BackgroundWriter()
    writer.submit(fail)
    with pytest.raises(OSError, match="disk full"):
        writer.close()


@pytest.mark.skipif(sys.platform != "linux", reason="niceness is per thread on Linux only")
def test_background_writer_runs_at_lower_priority():
    seen = []
    writer = BackgroundWriter()
    writer.submit(lambda: seen.append(_niceness()))
    writer.close()
    assert seen == [min(_niceness() + 10, 19)]
