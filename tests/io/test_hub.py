"""The Hub side, with ``huggingface_hub`` replaced by fakes: no network is used."""

import shutil
import time
from pathlib import Path

import huggingface_hub
import pytest
import torch
from huggingface_hub import PyTorchModelHubMixin, constants

from facexformer import FaceXFormer
from facexformer.io import hub
from facexformer.io.errors import CheckpointNotFoundError
from facexformer.io.hub import looks_like_hub_id


@pytest.mark.parametrize(
    "text,expected",
    [
        ("kartiknarayan/facexformer", True),
        ("me/model-v2.1", True),
        ("runs/x.ckpt", False),
        ("a/b/c", False),
        ("./a/b", False),
        ("/abs/path", False),
        ("model", False),
        ("me/model.safetensors", False),
    ],
)
def test_hub_ids_are_told_from_paths(text, expected):
    assert looks_like_hub_id(text) is expected


def test_offline_hub_id_fails_at_once_and_says_how_to_download():
    start = time.perf_counter()
    with pytest.raises(CheckpointNotFoundError, match="hf download kartiknarayan/facexformer ckpts/model.pt") as info:
        FaceXFormer.from_pretrained("kartiknarayan/facexformer")
    assert time.perf_counter() - start < 2
    assert "offline mode" in str(info.value) and info.value.__cause__ is None and info.value.__suppress_context__


def test_an_unreachable_hub_fails_at_once_without_retries(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")  # nothing listens on the discard port
    for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)

    def no_download(*args, **kwargs):
        if not kwargs.get("local_files_only"):
            raise AssertionError("tried the network")
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    start = time.perf_counter()
    expected = r"(?s)127.0.0.1:9 cannot be reached.*hf download me/model --local"
    with pytest.raises(CheckpointNotFoundError, match=expected):
        FaceXFormer.from_pretrained("me/model")
    assert time.perf_counter() - start < 5


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A reachable Hub whose repos are local folders under ``tmp_path/hub/<owner>/<name>``; records calls."""
    root = tmp_path / "hub"
    calls = []

    def download(repo_id, filename, **kwargs):
        calls.append(("download", repo_id, filename, kwargs))
        path = root / repo_id / filename
        if not path.is_file():
            raise huggingface_hub.errors.EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("api", token))

        def create_repo(self, repo_id, private=None, exist_ok=False):
            calls.append(("create_repo", repo_id, private, exist_ok))
            return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

        def create_branch(self, repo_id, branch, exist_ok=False):
            calls.append(("create_branch", repo_id, branch, exist_ok))

        def upload_folder(self, repo_id, folder_path, commit_message, revision=None, create_pr=False):
            calls.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir()), revision, create_pr))
            shutil.copytree(folder_path, root / repo_id, dirs_exist_ok=True)
            return huggingface_hub.CommitInfo(
                commit_url=f"https://huggingface.co/{repo_id}/commit/123",
                commit_message=commit_message,
                commit_description="",
                oid="123",
            )

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_endpoint_reachable", lambda endpoint: True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    return calls


def test_push_to_hub_then_from_pretrained_with_revision_token_and_cache(fake_hub, tmp_path, tiny_kwargs):
    model = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).eval()
    url = model.push_to_hub("me/tiny", token="hf_x", private=True, branch="v1")
    assert url == "https://huggingface.co/me/tiny/commit/123"
    assert ("create_repo", "me/tiny", True, True) in fake_hub and ("create_branch", "me/tiny", "v1", True) in fake_hub
    assert ("upload", "me/tiny", ["README.md", "config.json", "model.safetensors"], "v1", False) in fake_hub
    fake_hub.clear()
    loaded = FaceXFormer.from_pretrained("me/tiny", revision="v1", token="hf_x", cache_dir=str(tmp_path / "cache"))
    downloads = [c for c in fake_hub if c[0] == "download" and not c[3].get("local_files_only")]
    assert [c[2] for c in downloads] == ["config.json", "model.safetensors"]
    assert all(c[3] == {"revision": "v1", "token": "hf_x", "cache_dir": str(tmp_path / "cache")} for c in downloads)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_local_files_only_uses_the_cache_only(fake_hub, tmp_path, tiny_kwargs):
    FaceXFormer(tasks=["gender"], **tiny_kwargs).push_to_hub("me/tiny")
    fake_hub.clear()
    assert FaceXFormer.from_pretrained("me/tiny", local_files_only=True).task_names == ["gender"]
    assert [c[3]["local_files_only"] for c in fake_hub if c[0] == "download"] == [True, True]


def test_a_missing_hub_file_is_one_clear_error(fake_hub):
    with pytest.raises(CheckpointNotFoundError, match=r"'config.json' of the Hugging Face Hub repo 'me/none'.*Entry"):
        FaceXFormer.from_pretrained("me/none")


def test_folders_follow_the_hub_mixin_layout_both_ways(tmp_path, tiny_kwargs):
    """``huggingface_hub.PyTorchModelHubMixin`` loads our folders, and we load the folders it writes."""

    class MixinModel(PyTorchModelHubMixin, FaceXFormer):
        pass

    ours = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).eval()
    theirs = MixinModel.from_pretrained(str(ours.save_pretrained(tmp_path / "ours"))).eval()
    mixin = MixinModel(tasks=["landmarks", "gender"], **tiny_kwargs).eval()
    mixin.save_pretrained(tmp_path / "mixin")
    back = FaceXFormer.from_pretrained(tmp_path / "mixin")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x))
        torch.testing.assert_close(back(x), mixin(x))


def test_the_model_card_metadata_parses_with_huggingface_hub_card_tools(tmp_path, tiny_kwargs):
    from huggingface_hub import ModelCard, metadata_load

    folder = FaceXFormer(tasks=["landmarks", "gender"], **tiny_kwargs).save_pretrained(tmp_path / "m")
    card = ModelCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "facexformer" and data["license"] == "other"
    assert data["license_name"] and data["license_link"] == "LICENSE"
    assert {"landmarks", "gender"} <= set(data["tags"]) and "pytorch_model_hub_mixin" not in data["tags"]
    assert "base_model" not in data and "datasets" not in data  # a fresh model: none to state
    assert "non-commercial" in card.text and "| training data | not recorded |" in card.text
    assert metadata_load(folder / "README.md") == data


def test_a_model_from_the_released_weights_names_base_model_datasets_and_its_evaluation(tiny_kwargs):
    from huggingface_hub import ModelCard

    from facexformer.io.model_card import RELEASED_MODEL, model_card

    config = {"tasks": ["landmarks", "age"], "init_weights": RELEASED_MODEL, **tiny_kwargs}
    metrics = {"test/common/landmarks/nme": 0.035, "test/age/mae": 4.5}
    card = ModelCard(model_card(config, metrics))
    data = card.data
    assert data.base_model == RELEASED_MODEL
    assert data.datasets == ["300W", "UTKFace", "FairFace"]
    results = {(r.task_type, r.dataset_name, r.metric_type): r.metric_value for r in data.eval_results}
    assert results == {("landmarks", "common", "nme"): 0.035, ("age", "300W", "mae"): 4.5}
    assert "model-index" in card.content and "| test/age/mae | 4.5000 |" in card.text
    own = ModelCard(model_card({"tasks": ["age"], **tiny_kwargs}, datasets=["my-faces"]))
    assert own.data.datasets == ["my-faces"] and own.data.base_model is None
