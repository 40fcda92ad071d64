import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from facexformer import FaceXFormer
from facexformer.apps.cli import CONFIG_SUMMARIES, main, resolve_config_names, shipped_configs
from facexformer.apps.cli_parsing import UserError
from tests.cli_args import TINY_MODEL

SYNTHETIC_DATA = str(Path(__file__).parents[1] / "conf" / "synthetic_data.yaml")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A save_pretrained folder standing in for the released weights (init_weights)."""
    path = tmp_path_factory.mktemp("weights") / "tiny"
    FaceXFormer(backbone="test_convnext", image_size=64, dim=32, decoder_mlp_dim=64).save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_runs(name, tmp_path, tiny_weights, monkeypatch):
    """Each config, with its data replaced by synthetic faces and a tiny backbone, survives a fast_dev_run."""
    monkeypatch.chdir(tmp_path)
    args = [
        "fit",
        "--config",
        name,
        "--data",
        SYNTHETIC_DATA,
        *TINY_MODEL,
        "--trainer.fast_dev_run",
        "1",
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "1",
        "--trainer.strategy",
        "auto",
        "--trainer.precision",
        "32-true",
        "--trainer.default_root_dir",
        str(tmp_path),
        "--data.crop",
        "null",
        "--data.crops",
        "null",
        "--data.tasks",
        "null",
        "--data.num_workers",
        "0",
    ]
    text = Path(shipped_configs()[name]).read_text()
    if "init_weights" in text:
        args += ["--model.init_weights", tiny_weights]
    if "num_points: 98" in text:  # synthetic faces have 68 points (the config's other landmark options stay)
        args += ["--model.tasks", '[{"class_path": "landmarks", "init_args": {"num_points": 68}}]']
    cli = main(args)
    assert cli.trainer.state.finished


def test_config_names_resolve_and_unknown_names_fail(tmp_path):
    assert resolve_config_names(["fit", "--config", "quickstart"])[2].endswith("quickstart.yaml")
    with pytest.raises(UserError, match="neither a file nor a shipped config"):
        resolve_config_names(["fit", "--config", "no_such_config"])


def test_benchmark_subcommand_prints_a_table(capsys):
    main(["benchmark", "--backbone", "test_convnext", "--image-size", "64", "--batch-size", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "backbone only" in out and "landmarks only" in out and "ratio" in out


def test_console_script_exits_with_status_zero_after_a_fit(tmp_path):
    script = Path(sys.executable).parent / "facexformer"
    args = [
        "fit",
        "--config",
        "quickstart",
        "--data",
        SYNTHETIC_DATA,
        *TINY_MODEL,
        "--trainer.fast_dev_run",
        "1",
        "--data.num_workers",
        "0",
        "--trainer.logger",
        "false",
        "--test_after_fit",
        "false",
    ]
    done = subprocess.run([str(script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FaceXFormerCLI object" not in done.stderr


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for command in ("fit", "validate", "test", "predict", "infer", "export", "benchmark"):
        line = next((line for line in lines if line.startswith(f"  {command} ")), None)
        assert line is not None, out
        description = line.split(maxsplit=1)[1]
        assert description[0].isupper() and description.endswith("."), line  # a full sentence, not cut


def test_help_lists_each_shipped_config_with_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    lines = capsys.readouterr().out.splitlines()
    for name in shipped_configs():
        line = next((line for line in lines if line.startswith(f"  {name} ")), None)
        assert line is not None and len(line.split(maxsplit=1)[1]) > 20, (name, lines)
    assert set(CONFIG_SUMMARIES) == set(shipped_configs()), "each shipped config has one summary line"


def test_help_imports_neither_torch_nor_lightning():
    code = "import sys; from facexformer.apps.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n"
    code += "print(sorted(m for m in ('torch', 'lightning', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


@pytest.mark.parametrize(
    "argv, option",
    [
        (["infer", "--help"], "--checkpoint"),
        (["export", "-h"], "--format"),
        (["evaluate", "--help"], "--benchmark"),
        (["benchmark", "--help"], "landmarks"),
        (["benchmark", "model", "--help"], "--dtype"),
        (["benchmark", "help", "-h"], "--repeats"),
    ],
)
def test_the_help_of_the_other_commands_imports_neither_torch_nor_lightning(argv, option):
    """Their parsers are built from modules that import no torch: the help is printed in well under 2 s."""
    code = "import sys; from facexformer.apps.cli import main\n"
    code += "try: main(sys.argv[1:])\nexcept SystemExit as e: code = e.code\n"
    code += "print(code, sorted(m for m in ('torch', 'lightning', 'timm') if m in sys.modules), file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr
    assert done.stdout.startswith(f"usage: facexformer {argv[0]}") and option in done.stdout


def test_a_bare_command_prints_the_help_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2 and "commands:" in capsys.readouterr().out


def test_print_config_shows_each_task_with_its_options(capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "fit",
                "--config",
                "quickstart",
                "--model.tasks",
                "[landmarks, {class_path: headpose}]",
                "--data.augment",
                '{"flip": 0.25}',
                "--print_config",
            ]
        )
    config = yaml.safe_load(capsys.readouterr().out)
    landmarks, headpose = config["model"]["tasks"]
    assert landmarks["class_path"] == "facexformer.tasks.landmarks.Landmarks"
    assert landmarks["init_args"]["num_points"] == 68 and landmarks["init_args"]["head"] == "regression"
    assert headpose["init_args"] == {"head": "euler", "loss": "geodesic", "weight": 1.0}
    assert config["data"]["augment"]["flip"] == 0.25 and config["data"]["augment"]["gamma"] == 0.2


def test_task_names_work_in_help_of_a_task(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model.tasks.help", "landmarks"])
    assert exit_info.value.code == 0
    assert "--model.tasks.heatmap_size" in capsys.readouterr().out


def test_infer_reads_its_options_from_a_config_file(tmp_path):
    from facexformer.apps.infer import parse_args

    config = tmp_path / "infer.yaml"
    config.write_text("checkpoint: kartiknarayan/facexformer\nout: preds\nbatch_size: 4\noverlay: false\n")
    options = parse_args(["a.jpg", "--config", str(config), "--tasks", "landmarks"])
    assert (options.inputs, options.checkpoint, str(options.out)) == (["a.jpg"], "kartiknarayan/facexformer", "preds")
    assert (options.batch_size, options.overlay, options.tasks) == (4, False, ["landmarks"])


def test_the_data_modules_crop_is_saved_with_the_model(tmp_path):
    """``data.crop`` reaches ``model.crop`` (a link), goes into the checkpoint and comes back with ``--ckpt_path``
    even when the data then needs no crop."""
    settings = '{"size": 64, "margin": 0.1, "interpolation": "bilinear"}'
    crop = '{"class_path": "facexformer.data.CropFace", "init_args": ' + settings + "}"
    common = ["--data", SYNTHETIC_DATA, *TINY_MODEL, "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu"]
    common += ["--trainer.default_root_dir", str(tmp_path), "--data.num_workers", "0"]
    cli = main(["fit", *common, "--data.crop", crop])
    expected = {"size": 64, "margin": 0.1, "square": False, "zoom": 1.0, "interpolation": "bilinear", "clip": True}
    assert cli.model.hparams.crop == expected
    cli.trainer.save_checkpoint(tmp_path / "fitted.ckpt")
    validated = main(["validate", *common, "--ckpt_path", str(tmp_path / "fitted.ckpt")])
    assert validated.model.hparams.crop == expected
    assert FaceXFormer.from_pretrained(tmp_path / "fitted.ckpt").crop_settings.interpolation == "bilinear"
