import lightning as L
import pytest
import torch

from facexformer import FaceXFormer
from facexformer.data import SyntheticFaces, collate_multitask
from facexformer.io.errors import CheckpointError
from facexformer.model.decoder import Attention
from facexformer.tasks import Landmarks
from tests.backbones import TwoScales


def test_save_pretrained_round_trip(tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks", "headpose", "parsing"], **tiny_kwargs).eval()
    model.save_pretrained(tmp_path / "m")
    with pytest.raises(FileExistsError):
        model.save_pretrained(tmp_path / "m")
    loaded = FaceXFormer.from_pretrained(tmp_path / "m")
    assert loaded.task_names == ["landmarks", "headpose", "parsing"]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for name, value in model(x).items():
            torch.testing.assert_close(loaded(x)[name], value)


def test_lightning_checkpoint_round_trip(tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=[Landmarks(num_points=98), "gender"], **tiny_kwargs)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, max_epochs=0, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = FaceXFormer.from_pretrained(tmp_path / "m.ckpt")
    assert loaded.task("landmarks").num_points == 98
    again = FaceXFormer.load_from_checkpoint(tmp_path / "m.ckpt", weights_only=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["landmarks"], again.eval()(x)["landmarks"])
        assert loaded(x)["landmarks"].shape == (1, 98, 2)


def test_duplicate_and_unknown_tasks(tiny_kwargs):
    with pytest.raises(ValueError, match="duplicate"):
        FaceXFormer(tasks=["gender", "gender"], **tiny_kwargs)
    with pytest.raises(KeyError, match="unknown task 'smile'"):
        FaceXFormer(tasks=["smile"], **tiny_kwargs)


def test_checkpoints_do_not_reload_the_starting_weights(tmp_path, tiny_kwargs):
    source = FaceXFormer(**tiny_kwargs)
    source.save_pretrained(tmp_path / "start")
    model = FaceXFormer(init_weights=str(tmp_path / "start"), **tiny_kwargs)
    model.save_pretrained(tmp_path / "tuned")
    (tmp_path / "start" / "model.safetensors").unlink()  # gone: reloading must not need it
    assert "init_weights" not in model.hparams
    FaceXFormer.from_pretrained(tmp_path / "tuned")


def test_decoder_heads_reach_every_attention_and_survive_a_round_trip(tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks"], decoder_heads=2, **tiny_kwargs).eval()
    attentions = [m for m in model.net.decoder.modules() if isinstance(m, Attention)]
    assert len(attentions) == 7 and {m.num_heads for m in attentions} == {2}
    model.save_pretrained(tmp_path / "m")
    loaded = FaceXFormer.from_pretrained(tmp_path / "m")
    assert loaded.hparams.decoder_heads == 2
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["landmarks"], model(x)["landmarks"])


def test_cpu_optimizer_is_the_fused_adamw(tiny_kwargs):
    optimizer = FaceXFormer(tasks=["gender"], **tiny_kwargs).configure_optimizers()["optimizer"]
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True


def test_an_empty_trainable_list_is_a_clear_error(tiny_kwargs):
    with pytest.raises(ValueError, match="trainable is empty, so nothing would train"):
        FaceXFormer(tasks=["gender"], trainable=[], **tiny_kwargs)


def test_pixel_normalisation_follows_the_backbone_unless_given(tiny_kwargs):
    model = FaceXFormer(tasks=["gender"], **tiny_kwargs)
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(model.normalize(x), (x - 0.5) / 0.5)  # test_convnext's pretrained_cfg
    given = FaceXFormer(tasks=["gender"], pixel_mean=[0.1, 0.2, 0.3], pixel_std=[1, 2, 4], **tiny_kwargs)
    expected = (x - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor([1.0, 2, 4]).view(1, 3, 1, 1)
    torch.testing.assert_close(given.normalize(x), expected)
    assert given.normalization == {"mean": [0.1, 0.2, 0.3], "std": [1.0, 2.0, 4.0]}
    with pytest.raises(ValueError, match="3 values each"):
        FaceXFormer(tasks=["gender"], pixel_mean=[0.5], **tiny_kwargs)


def test_a_lightning_checkpoint_brings_its_normalisation(tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=["gender"], pixel_mean=[0.1, 0.2, 0.3], pixel_std=[0.4, 0.5, 0.6], **tiny_kwargs)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, max_epochs=0, enable_progress_bar=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    fresh = FaceXFormer(tasks=["gender"], **tiny_kwargs)
    fresh.on_load_checkpoint(torch.load(tmp_path / "m.ckpt", weights_only=True))
    assert fresh.normalization == model.normalization
    assert torch.equal(fresh.pixel_std, model.pixel_std)
    legacy = torch.load(tmp_path / "m.ckpt", weights_only=True)
    del legacy["hyper_parameters"]["pixel_mean"], legacy["hyper_parameters"]["pixel_std"]
    torch.save(legacy, tmp_path / "legacy.ckpt")  # written before the normalisation was saved: ImageNet's
    loaded = FaceXFormer.load_from_checkpoint(tmp_path / "legacy.ckpt", weights_only=True)
    assert loaded.normalization["mean"] == pytest.approx([0.485, 0.456, 0.406])


def test_a_class_path_backbone_trains_and_survives_save_and_load(tmp_path, tiny_kwargs):
    torch.manual_seed(0)
    spec = {"class_path": "tests.backbones.TwoScales", "init_args": {"width": 6}}
    model = FaceXFormer(tasks=["landmarks", "gender"], **{**tiny_kwargs, "backbone": spec})
    assert isinstance(model.net.backbone, TwoScales) and model.net.backbone.channels == [6, 12]
    faces = SyntheticFaces(4, 64, seed=0, tasks=["landmarks", "gender"])
    batch = collate_multitask([faces[i] for i in range(4)])
    batch["image"] = batch["image"].float() / 255
    before = model.net.backbone.first.weight.detach().clone()
    optimizer = model.configure_optimizers()["optimizer"]
    loss = model.step(batch, "train")
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and not torch.equal(model.net.backbone.first.weight, before)
    model.eval()
    model.save_pretrained(tmp_path / "custom")
    with pytest.raises(CheckpointError, match="refusing backbone class path 'tests.backbones.TwoScales'"):
        FaceXFormer.from_pretrained(tmp_path / "custom")  # declared by no installed package: trust is asked for
    again = FaceXFormer.from_pretrained(tmp_path / "custom", trusted=True)
    assert again.hparams.backbone == spec and isinstance(again.net.backbone, TwoScales)
    images = model.normalize(batch["image"])
    with torch.no_grad():
        expected, got = model(images), again(images)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0)


def test_evaluation_names_passed_explicitly_name_the_logged_metrics(tiny_kwargs):
    from torch.utils.data import DataLoader

    def to_float(sample):
        return {**sample, "image": sample["image"].float() / 255}

    def loader(seed: int) -> DataLoader:
        faces = SyntheticFaces(2, 64, seed=seed, tasks=["landmarks"], transform=to_float)
        return DataLoader(faces, batch_size=2, collate_fn=collate_multitask)

    model = FaceXFormer(tasks=["landmarks"], **tiny_kwargs)
    model.set_evaluation_names({"test": ["common", "challenge"]})
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    results = trainer.test(model, [loader(1), loader(2)], verbose=False)
    assert "test/common/landmarks/nme" in results[0] and "test/challenge/landmarks/nme" in results[1]
    assert results[0]["test/common/landmarks/nme"] != results[1]["test/challenge/landmarks/nme"]
    with pytest.raises(ValueError, match="stages are 'val' and 'test'"):
        model.set_evaluation_names({"train": ["a"]})
    model.set_evaluation_names({"test": ["only"]})
    with pytest.raises(ValueError, match=r"test loader 1: only 1 test loaders are named \(\['only'\]\)"):
        trainer.test(model, [loader(1), loader(2)], verbose=False)


def test_evaluation_names_of_a_data_module_hold_for_its_runs_only(tiny_kwargs):
    from facexformer.data import MultiTaskDataModule

    def to_float(sample):
        return {**sample, "image": sample["image"].float() / 255}

    test = {
        name: SyntheticFaces(2, 64, seed=seed, tasks=["landmarks"], transform=to_float)
        for seed, name in [(1, "a"), (2, "b")]
    }
    model = FaceXFormer(tasks=["landmarks"], **tiny_kwargs)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    separate = MultiTaskDataModule(test=test, batch_size=2, evaluate_separately=True)
    assert "test/b/landmarks/nme" in trainer.test(model, separate, verbose=False)[1]
    again = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    pooled = again.test(model, separate.test_dataloader()[0], verbose=False)[0]
    assert not any(key.startswith("test/a/") for key in pooled) and 0 < pooled["test/landmarks/nme"] < 10


def test_integer_images_are_refused_not_normalised_to_garbage(tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks"], **tiny_kwargs)
    with pytest.raises(TypeError, match=r"normalize: expects float images in \[0, 1\], got torch.uint8"):
        model.normalize(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
