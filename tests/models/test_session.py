"""ONNX Runtime layer: providers, device errors, contract checks, session cache, runtime hint."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from defocus_cli.errors import DeviceError, WeightsError
from defocus_cli.models.registry import ModelSpec, TensorSpec
from defocus_cli.models.resolve import ResolvedModel
from defocus_cli.models.session import (
    CPU,
    CUDA,
    clear_sessions,
    create_session,
    get_session,
    installed_runtimes,
    select_providers,
)
from tests.models.tiny_models import conv_model, depth_standin_model, identity_model

HAS_CUDA = CUDA in onnxruntime.get_available_providers()
ROOT = Path(__file__).resolve().parents[2]


def resolved_for(path: Path, data: bytes, **spec_kw: object) -> ResolvedModel:
    sha = hashlib.sha256(data).hexdigest()
    values: dict[str, object] = dict(
        name="tiny",
        task="deblur",
        file=path.name,
        sha256=sha,
        inputs=(TensorSpec("image", "NCHW", 3),),
        outputs=(TensorSpec("output", "NCHW", 3),),
    )
    values.update(spec_kw)
    return ResolvedModel(path, ModelSpec(**values), sha, "path", "sha256")  # type: ignore[arg-type]


@pytest.fixture
def tiny(tmp_path: Path) -> ResolvedModel:
    path = tmp_path / "tiny.onnx"
    return resolved_for(path, conv_model(path))


def test_select_providers() -> None:
    assert select_providers("cpu", [CUDA, CPU]) == [CPU]
    assert select_providers("auto", [CUDA, CPU]) == [CUDA, CPU]
    assert select_providers("auto", [CPU]) == [CPU]
    assert select_providers("cuda", [CUDA, CPU]) == [CUDA, CPU]
    with pytest.raises(DeviceError, match="CUDA is not available") as caught:
        select_providers("cuda", [CPU])
    assert caught.value.exit_code == 4


def test_session_reports_the_provider_it_really_uses(tiny: ResolvedModel) -> None:
    session = create_session(tiny, device="cpu", threads=1)
    assert session.provider == CPU == session.session.get_providers()[0]
    x = np.random.default_rng(0).random((1, 3, 8, 12), dtype=np.float32)
    out = session.run({"image": x})
    assert list(out) == ["output"] and out["output"].shape == (1, 3, 8, 12)
    auto = create_session(tiny, device="auto")
    assert auto.provider == (CUDA if HAS_CUDA else CPU)


@pytest.mark.skipif(HAS_CUDA, reason="this runtime has CUDA")
def test_explicit_cuda_without_cuda_is_exit_4(tiny: ResolvedModel) -> None:
    with pytest.raises(DeviceError) as caught:
        create_session(tiny, device="cuda")
    assert caught.value.exit_code == 4


def test_one_session_per_model_per_process(tiny: ResolvedModel) -> None:
    clear_sessions()
    first = get_session(tiny, device="cpu")
    assert get_session(tiny, device="cpu") is first
    assert get_session(tiny, device="cpu", threads=1) is not first
    clear_sessions()
    assert get_session(tiny, device="cpu") is not first


@pytest.mark.parametrize(
    "spec_change, message",
    [
        ({"inputs": (TensorSpec("rgb", "NCHW", 3),)}, "no input 'rgb'"),
        ({"outputs": (TensorSpec("depth", "NHW", None),)}, "no output 'depth'"),
        ({"inputs": (TensorSpec("image", "NHW", None),)}, "rank 4"),
        ({"inputs": (TensorSpec("image", "NCHW", 4),)}, "3 channels, expected 4"),
        ({"outputs": (TensorSpec("output", "NCHW", 1),)}, "3 channels, expected 1"),
    ],
)
def test_io_contract_mismatch_is_a_clear_weights_error(
    tmp_path: Path, spec_change: dict[str, object], message: str
) -> None:
    path = tmp_path / "tiny.onnx"
    resolved = resolved_for(path, conv_model(path), **spec_change)
    with pytest.raises(WeightsError, match=message) as caught:
        create_session(resolved, device="cpu")
    assert caught.value.exit_code == 3 and "tiny.onnx" in str(caught.value)


def test_contract_accepts_matching_rank3_output_and_empty_contract(tmp_path: Path) -> None:
    path = tmp_path / "depth.onnx"
    data = depth_standin_model(path)
    resolved = resolved_for(
        path,
        data,
        task="depth",
        inputs=(TensorSpec("pixel_values", "NCHW", 3),),
        outputs=(TensorSpec("predicted_depth", "NHW", None),),
    )
    out = create_session(resolved, device="cpu").run(
        {"pixel_values": np.ones((1, 3, 14, 28), np.float32)}
    )
    assert out["predicted_depth"].shape == (1, 14, 28)
    loose = resolved_for(path, data, task="depth", inputs=(), outputs=())
    assert create_session(loose, device="cpu").input_names == ["pixel_values"]


def test_a_file_that_is_not_onnx_is_a_weights_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(WeightsError, match="cannot load model broken.onnx"):
        create_session(resolved_for(path, b"\x00garbage", inputs=(), outputs=()), device="cpu")


def test_installed_runtimes_sees_this_environment() -> None:
    assert installed_runtimes()  # the test environment has exactly one runtime
    assert len(installed_runtimes()) == 1


# A job run where `import onnxruntime` fails, through the real CLI entry point: the
# subcommand is a minimal one built from the shared options, as every inference job is.
_RUNNER = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class BlockRuntime(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "onnxruntime" or name.startswith("onnxruntime."):
                raise ImportError("blocked for the test: " + name)
            return None

    if sys.argv[1] == "block":
        sys.meta_path.insert(0, BlockRuntime())

    import click
    from defocus_cli.cli import main as cli_main
    from defocus_cli.cli.model_options import model_options, open_model

    @click.command()
    @model_options("upsample")  # the one task with no shipped model, whose I/O a file would have to match
    def probe(model, device, threads, offline):
        net = open_model("upsample", model=model, device=device, threads=threads, offline=offline)
        click.echo(net.info()["provider"])

    sys.modules["probe_cmd"] = type(sys)("probe_cmd")
    sys.modules["probe_cmd"].probe = probe
    cli_main.SUBCOMMANDS["probe"] = "probe_cmd:probe"
    cli_main.main(["probe", *sys.argv[2:]])
    """
)


def run_probe(mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUNNER, mode, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_missing_runtime_exits_4_with_a_one_line_hint(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    identity_model(path)
    done = run_probe("block", "--model", str(path))
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "defocus-cli[cpu]"' in lines[0] and "[gpu]" in lines[0]


def test_cli_device_and_thread_options(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    identity_model(path)
    ok = run_probe("run", "--model", str(path), "--device", "cpu", "--threads", "1")
    assert ok.returncode == 0 and ok.stdout.strip() == CPU, ok.stderr
    bad_threads = run_probe("run", "--model", str(path), "--threads", "0")
    assert bad_threads.returncode == 2 and "Traceback" not in bad_threads.stderr
    if not HAS_CUDA:
        cuda = run_probe("run", "--model", str(path), "--device", "cuda")
        assert cuda.returncode == 4 and "Traceback" not in cuda.stderr
        assert "--device cuda" in cuda.stderr


def test_run_image_encodes_pads_tiles_and_decodes(tmp_path: Path) -> None:
    path = tmp_path / "identity.onnx"
    resolved = resolved_for(path, identity_model(path), preprocessing="srgb-1to1", stride=4)
    session = create_session(resolved, device="cpu")
    image = np.random.default_rng(3).random((37, 50, 3), dtype=np.float32)
    np.testing.assert_allclose(session.run_image(image, tile_px=None), image, atol=1e-6)
    raw = session.run_image(image, tile_px=16, overlap_px=8, decode_output=False)
    np.testing.assert_allclose(raw, image * 2 - 1, atol=1e-6)
    seen: list[tuple[int, ...]] = []
    original = session.session.run
    session.session.run = lambda names, feed: (
        seen.append(feed["image"].shape) or original(names, feed)
    )
    session.run_image(image, tile_px=None, stride=8)
    assert seen == [(1, 3, 40, 56)]  # padded to the overridden stride, then cropped


def test_run_image_tiled_matches_untiled_and_returns_maps(tmp_path: Path) -> None:
    conv_path = tmp_path / "conv.onnx"
    conv = create_session(resolved_for(conv_path, conv_model(conv_path, layers=2)), "cpu", 1)
    image = np.random.default_rng(4).random((90, 70, 3), dtype=np.float32)
    np.testing.assert_allclose(
        conv.run_image(image, tile_px=32, overlap_px=16),
        conv.run_image(image, tile_px=None),
        atol=1e-5,
    )
    depth_path = tmp_path / "depth.onnx"
    depth = create_session(
        resolved_for(
            depth_path,
            depth_standin_model(depth_path),
            task="depth",
            inputs=(TensorSpec("pixel_values", "NCHW", 3),),
            outputs=(TensorSpec("predicted_depth", "NHW", None),),
            preprocessing="imagenet",
            stride=14,
        ),
        device="cpu",
    )
    out = depth.run_image(image, tile_px=None)  # a map: not decoded
    assert out.shape == (90, 70)
    expected = ((image - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).mean(axis=2)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_two_runtimes_installed_warns_once(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from defocus_cli.models import session as session_module

    monkeypatch.setattr(session_module, "_warned", set())
    monkeypatch.setattr(
        session_module, "installed_runtimes", lambda: ["onnxruntime", "onnxruntime-gpu"]
    )
    session_module.import_onnxruntime()
    session_module.import_onnxruntime()
    err = capsys.readouterr().err
    assert err.count("shadow each other") == 1 and "pip uninstall onnxruntime" in err
