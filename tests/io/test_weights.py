"""``save_pretrained`` folders: the pair written as one, the model card, the trainer's last test metrics."""

import lightning as L
import pytest
import yaml

from facexformer import FaceXFormer
from facexformer.data.datamodule import MultiTaskDataModule
from facexformer.data.synthetic import SyntheticFaces
from facexformer.io import weights


def test_save_pretrained_writes_the_pair_as_one_folder(tmp_path, tiny_kwargs, monkeypatch):
    model = FaceXFormer(tasks=["gender"], **tiny_kwargs)
    folder = model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        model.save_pretrained(folder)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(weights, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        FaceXFormer(tasks=["age"], **tiny_kwargs).save_pretrained(folder, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # the old pair, untouched
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no half-written folder, no temporary
    monkeypatch.undo()
    FaceXFormer(tasks=["age"], **tiny_kwargs).save_pretrained(folder, overwrite=True)
    assert FaceXFormer.from_pretrained(folder).task_names == ["age"]


def test_the_model_card_names_tasks_backbone_and_the_last_test_metrics(tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs)
    card = (model.save_pretrained(tmp_path / "plain") / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["library_name"] == "facexformer" and {"landmarks", "gender"} <= set(header["tags"])
    assert "| tasks | landmarks, gender |" in card and "| backbone | `test_convnext` |" in card
    assert "## Metrics" not in card
    faces = SyntheticFaces(num_samples=4, size=64, seed=3)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")
    results = trainer.test(model, MultiTaskDataModule(test={"faces": faces}, batch_size=4), verbose=False)[0]
    card = (model.save_pretrained(tmp_path / "tested") / "README.md").read_text()
    assert f"| test/gender/accuracy | {results['test/gender/accuracy']:.4f} |" in card
    assert f"| test/landmarks/nme | {results['test/landmarks/nme']:.4f} |" in card
    card = (model.save_pretrained(tmp_path / "given", metrics={"nme": 0.25}) / "README.md").read_text()
    assert "| nme | 0.2500 |" in card and "test/gender" not in card
