"""The Hugging Face Hub: downloading one file (cache first, one short error offline) and pushing a folder.

A saved model is a folder (or Hub repo) of ``config.json`` (constructor arguments), ``model.safetensors`` (the
state dict) and a ``README.md`` model card (``facexformer.io.model_card``). The file names are those of
``huggingface_hub``'s ``PyTorchModelHubMixin``, but ``FaceXFormer`` is not that mixin (its loading checks
task class paths, token layouts and crops), so the card does not carry the mixin's tag.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from facexformer.io.errors import CheckpointNotFoundError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_LOCAL_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".safetensors", ".json")


def looks_like_hub_id(source: str | Path) -> bool:
    """Whether ``source`` can only mean a Hub repo: ``owner/name``, not an existing path, no file suffix,
    and its first part is not an existing local folder (``runs/typo`` is a mistyped path, not a repo)."""
    if not isinstance(source, str) or not _REPO_ID.match(source) or source.endswith(_LOCAL_SUFFIXES):
        return False
    return not Path(source).exists() and not Path(source.split("/")[0]).exists()


def hub_download(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
) -> Path:
    """Path of ``filename`` from the Hub repo ``repo_id``, from the local cache or downloaded.

    Offline (``HF_HUB_OFFLINE=1`` or ``local_files_only``) or when the Hub cannot be reached, a file missing
    from the cache raises ``CheckpointNotFoundError`` at once, with the command that fetches it by hand.
    """
    from huggingface_hub import constants, hf_hub_download

    options = {"revision": revision, "token": token, "cache_dir": cache_dir}
    if local_files_only or constants.HF_HUB_OFFLINE:
        reason = "offline mode (HF_HUB_OFFLINE=1)" if constants.HF_HUB_OFFLINE else "local_files_only=True"
    elif not _endpoint_reachable(constants.ENDPOINT):
        reason = f"{constants.ENDPOINT} cannot be reached"
    else:
        try:
            return Path(hf_hub_download(repo_id, filename, **options))
        except Exception as err:  # noqa: BLE001 - huggingface_hub raises many types; one message names the file
            first_line = str(err).splitlines()[0] if str(err) else ""
            raise CheckpointNotFoundError(
                _manual_download_hint(repo_id, filename, f"{type(err).__name__}: {first_line}")
            ) from None
    try:  # no network: the cache only, no retries
        return Path(hf_hub_download(repo_id, filename, local_files_only=True, **options))
    except Exception:  # noqa: BLE001 - any failure here means "not in the cache"
        raise CheckpointNotFoundError(_manual_download_hint(repo_id, filename, reason)) from None


def hub_file_problem(repo_id: str, filename: str) -> str | None:
    """Why ``filename`` of ``repo_id`` cannot be had now (offline or the Hub unreachable, and not in the local
    cache), as ``hub_download``'s error would say it; None when it is cached or the Hub can be reached. Downloads
    nothing: a check to run beside another error, so that a user learns of both at once."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, filename), str):
        return None
    if constants.HF_HUB_OFFLINE:
        return _manual_download_hint(repo_id, filename, "offline mode (HF_HUB_OFFLINE=1)")
    if not _endpoint_reachable(constants.ENDPOINT):
        return _manual_download_hint(repo_id, filename, f"{constants.ENDPOINT} cannot be reached")
    return None


def _manual_download_hint(repo_id: str, filename: str, reason: str) -> str:
    """The one-paragraph error: what failed and the ``hf download`` command that fetches the weights by hand."""
    if filename.endswith((".json", ".safetensors")):  # a save_pretrained repo: the whole folder is needed
        folder = repo_id.replace("/", "--")
        command, target = f"hf download {repo_id} --local-dir ./{folder}", f"./{folder}"
    else:
        command, target = (
            f"hf download {repo_id} {filename} --local-dir ./facexformer-weights",
            (f"./facexformer-weights/{filename}"),
        )
    return (
        f"cannot get {filename!r} of the Hugging Face Hub repo {repo_id!r} ({reason}) and it is not in the local "
        f"cache. On a machine with internet access run\n    {command}\ncopy the result here and load it by path: "
        f"FaceXFormer.from_pretrained({target!r})"
    )


def _endpoint_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    """One TCP connection to the Hub's host (skipped behind a proxy, where only the proxy knows)."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def upload_folder(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    branch: str | None = None,
    commit_message: str = "Upload FaceXFormer",
    create_pr: bool = False,
) -> str:
    """Create ``repo_id`` if needed (and ``branch``), upload ``folder`` in one commit; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    if branch is not None:
        api.create_branch(repo_id, branch=branch, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), commit_message=commit_message, revision=branch, create_pr=create_pr
    )
    return str(getattr(info, "commit_url", info))
