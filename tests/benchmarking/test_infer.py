import torch

from facexformer import FaceXFormer
from facexformer.benchmarking.infer import infer_throughput, repeated_photos


def test_repeated_photos_get_unique_names(tmp_path):
    photo = tmp_path / "face.png"
    photo.write_bytes(b"x")
    (tmp_path / "links").mkdir()
    links = repeated_photos([photo, photo], 2, tmp_path / "links")
    assert len({p.stem for p in links}) == 4 and all(p.resolve() == photo for p in links)


def test_infer_table_compares_with_the_network_alone(shared_dir, tiny_kwargs, capsys):
    torch.manual_seed(0)
    photo = shared_dir / "reference" / "landmarks" / "samples" / "300w" / "01_Indoor" / "indoor_020.png"
    rows = infer_throughput(
        FaceXFormer(**tiny_kwargs), [photo], copies=2, batch_size=2, workers=[1], repeats=1, overlay=False
    )
    out = capsys.readouterr().out
    assert out.startswith("cpu: ") and "2 photos (1 distinct x 2)" in out and "0 failed" in out
    assert [r[0] for r in rows] == ["network alone", "infer, 1 workers"]
    assert rows[0][2] == 1.0 and all(r[1] > 0 for r in rows)
