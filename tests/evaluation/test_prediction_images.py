"""``predictions.jsonl``'s ``image`` on the benchmarks no other test of ``facexformer evaluate`` covers; the
other benchmarks' tests check it in ``test_evaluate.run``."""

import pytest

from facexformer.apps.evaluate import main
from facexformer.evaluation.benchmarks import BENCHMARKS
from facexformer.evaluation.predictions import image_file
from tests.evaluation.test_evaluate import check_prediction_images, saved_model
from tests.fake_data import celebamask_hq, lapa

#: benchmark -> (its data generator, the landmark count of its model or None)
GENERATED = {"celebamask_hq": (celebamask_hq, None), "lapa": (lapa, None)}


@pytest.mark.parametrize("benchmark", GENERATED)
def test_predictions_name_each_faces_image_under_the_root(benchmark, tmp_path):
    generator, points = GENERATED[benchmark]
    root = generator.write(tmp_path / "data")
    tasks = [
        {"class_path": "landmarks", "init_args": {"num_points": points}} if name == "landmarks" else name
        for name in BENCHMARKS[benchmark].metrics
    ]
    _, checkpoint = saved_model(tmp_path / "model", tasks)
    out = tmp_path / "out"
    assert main(["--benchmark", benchmark, "--root", str(root), "--checkpoint", checkpoint, "--out", str(out)]) == 0
    check_prediction_images(benchmark, root, out)


def test_image_file_takes_the_file_at_the_start_of_a_source(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a b.jpg").write_bytes(b"")
    (tmp_path / "faces.mat").write_bytes(b"")
    image, mat = tmp_path / "img" / "a b.jpg", tmp_path / "faces.mat"
    assert image_file(str(image), tmp_path) == "img/a b.jpg"
    assert image_file(f"{image} (list.txt line 4)", tmp_path) == "img/a b.jpg"
    assert image_file(f"{mat}[3]", tmp_path) == "faces.mat"
    assert image_file(f"{mat} index 3", tmp_path) == "faces.mat"
    assert image_file(f"{image}#mirror", tmp_path) == f"{image}#mirror"  # no file: as the reader wrote it
    assert image_file(str(image), tmp_path / "img" / "other") == str(image)  # not under the root: whole
