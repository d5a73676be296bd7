"""ONNX Runtime sessions: runtime import guard, provider selection, one session per model per
process, and the I/O contract check against the :class:`ModelSpec`.

Example::

    session = get_session(resolved, device="auto", threads=2)
    session.provider            # the provider really used, e.g. "CPUExecutionProvider"
    outputs = session.run({"image": batch_nchw})
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from defocus_cli.errors import DeviceError, UsageError, WeightsError
from defocus_cli.models import preprocess, tiling
from defocus_cli.models.registry import ModelSpec, TensorSpec
from defocus_cli.models.resolve import ResolvedModel

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
RUNTIME_HINT = 'install a runtime: pip install "defocus-cli[cpu]" (or "defocus-cli[gpu]" for CUDA)'
# Distributions that all provide the `onnxruntime` module; two at once shadow each other.
RUNTIME_DISTRIBUTIONS: tuple[str, ...] = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
)

# Tiles bound memory on large photos; 64 px overlap is exact for receptive radii <= 16 px
# (see models.tiling) and feathered beyond.
DEFAULT_TILE_PX = 1024
DEFAULT_OVERLAP_PX = 64

_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"defocus: warning: {message}", file=sys.stderr)


def installed_runtimes() -> list[str]:
    """The onnxruntime distributions installed in this environment (by package metadata)."""
    found = []
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def import_onnxruntime() -> ModuleType:
    """Import onnxruntime, or raise :class:`DeviceError` (exit 4) with the install hint."""
    try:
        ort = importlib.import_module("onnxruntime")
        ort.InferenceSession  # noqa: B018 - a half-removed install imports but lacks this
    except (ImportError, AttributeError):
        raise DeviceError(f"no ONNX Runtime found; {RUNTIME_HINT}") from None
    runtimes = installed_runtimes()
    if len(runtimes) > 1:
        _warn_once(
            f"{' and '.join(runtimes)} are installed together and shadow each other, so only "
            f"one works; keep exactly one (pip uninstall {runtimes[0]})"
        )
    return ort


def select_providers(device: str, available: list[str]) -> list[str]:
    """The provider list for ``--device`` given the runtime's available providers.

    ``cpu`` -> CPU only; ``cuda`` -> CUDA then CPU, and an error when CUDA is unavailable;
    ``auto`` -> CUDA when available, else CPU.
    """
    if device not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise DeviceError(
            "--device cuda was requested but CUDA is not available to ONNX Runtime "
            f"(available: {', '.join(available) or 'none'}); "
            'install "defocus-cli[gpu]" alone with a CUDA driver, or use --device cpu'
        )
    return [CPU]


def _dims(shape: list[Any]) -> str:
    return "x".join(str(d) if isinstance(d, int) else "?" for d in shape)


def check_contract(inputs: list[Any], outputs: list[Any], spec: ModelSpec, path: Path) -> None:
    """Compare a session's inputs/outputs (``NodeArg``s: ``.name``, ``.shape``) with the spec;
    a mismatch raises :class:`WeightsError` naming what differs. An empty list in the spec
    means no contract (a user's own model)."""
    for kind, declared, actual in (
        ("input", spec.inputs, inputs),
        ("output", spec.outputs, outputs),
    ):
        if not declared:
            continue
        by_name = {arg.name: arg for arg in actual}
        for tensor in declared:
            arg = by_name.get(tensor.name)
            if arg is None:
                raise WeightsError(
                    f"{path.name} does not match model {spec.name!r}: no {kind} "
                    f"{tensor.name!r} (it has {', '.join(sorted(by_name)) or 'none'})"
                )
            _check_tensor(kind, tensor, list(arg.shape), spec, path)
        if kind == "input" and len(actual) != len(declared):
            extra = sorted(set(by_name) - {t.name for t in declared})
            raise WeightsError(
                f"{path.name} does not match model {spec.name!r}: unexpected inputs {extra}"
            )


def _check_tensor(
    kind: str, tensor: TensorSpec, shape: list[Any], spec: ModelSpec, path: Path
) -> None:
    if len(shape) != tensor.rank:
        raise WeightsError(
            f"{path.name} does not match model {spec.name!r}: {kind} {tensor.name!r} has rank "
            f"{len(shape)} ({_dims(shape)}), expected {tensor.rank} ({tensor.layout})"
        )
    if tensor.channels is not None:
        channels = shape[tensor.layout.index("C")]
        # A symbolic (string/None) channel dim accepts any count; only a fixed one can disagree.
        if isinstance(channels, int) and channels != tensor.channels:
            raise WeightsError(
                f"{path.name} does not match model {spec.name!r}: {kind} {tensor.name!r} has "
                f"{channels} channels, expected {tensor.channels}"
            )


@dataclass
class ModelSession:
    """An ONNX Runtime session bound to its spec; ``provider`` is the one really used."""

    session: Any
    spec: ModelSpec
    path: Path
    sha256: str
    provider: str
    providers: tuple[str, ...]

    @property
    def input_names(self) -> list[str]:
        return [arg.name for arg in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [arg.name for arg in self.session.get_outputs()]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the network; ``inputs`` maps input names to arrays (float32 unless the model
        says otherwise). Returns every output by name."""
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ValueError(f"missing inputs {sorted(missing)} for model {self.spec.name!r}")
        feed = {name: np.ascontiguousarray(inputs[name]) for name in self.input_names}
        results = self.session.run(None, feed)
        return dict(zip(self.output_names, results, strict=True))

    def run_image(
        self,
        image: np.ndarray,
        *,
        tile_px: int | None = DEFAULT_TILE_PX,
        overlap_px: int = DEFAULT_OVERLAP_PX,
        decode_output: bool | None = None,
        stride: int | None = None,
    ) -> np.ndarray:
        """Run a one-input, one-output image network on an HxW[xC] float32 sRGB image in [0,1].

        The image is encoded per ``spec.preprocessing``, reflect-padded to ``spec.stride``, run
        in overlapping tiles of ``tile_px`` (``None``: one pass) and cropped back. Returns HxWxC
        (or HxW for a one-channel/NHW output), decoded with the same encoding when
        ``decode_output`` (default: when the output has the input's shape, i.e. an
        image-to-image network), raw otherwise (maps). Not clipped. ``stride`` overrides the
        spec's (a user's own file carries no stride unless its task has a registered model).
        """
        if len(self.input_names) != 1 or len(self.output_names) != 1:
            raise ValueError(
                f"run_image needs a one-input, one-output network; {self.spec.name!r} has "
                f"{self.input_names} -> {self.output_names}"
            )
        in_name, out_name = self.input_names[0], self.output_names[0]
        encoded = preprocess.encode(image, self.spec.preprocessing)
        stride = self.spec.stride if stride is None else stride

        def network(tile: np.ndarray) -> np.ndarray:
            out = self.session.run([out_name], {in_name: preprocess.hwc_to_nchw(tile)})[0]
            return preprocess.nchw_to_hwc(out)

        if tile_px is None:
            padded, size = tiling.pad_to_stride(encoded, stride)
            out = tiling.crop(network(padded), size)
        else:
            out = tiling.run_tiled(
                network, encoded, tile_px=tile_px, overlap_px=overlap_px, stride=stride
            )
        if decode_output is None:
            decode_output = out.shape == encoded.shape
        return preprocess.decode(out, self.spec.preprocessing) if decode_output else out


_SESSIONS: dict[tuple[str, str, str, str, int | None], ModelSession] = {}


def create_session(
    resolved: ResolvedModel, device: str = "auto", threads: int | None = None
) -> ModelSession:
    """A new session for ``resolved`` (no caching; see :func:`get_session`)."""
    ort = import_onnxruntime()
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be >= 1, not {threads}")
    providers = select_providers(device, list(ort.get_available_providers()))
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: provider fallbacks are reported by us
    try:
        session = ort.InferenceSession(
            str(resolved.path), sess_options=options, providers=providers
        )
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"cannot load model {resolved.path.name}: {first}") from None
    used = tuple(session.get_providers())
    # onnxruntime-gpu drops to CPU silently when CUDA fails to initialise: check what stuck.
    if device == "cuda" and CUDA not in used:
        raise DeviceError(
            f"--device cuda was requested but ONNX Runtime fell back to {used[0] if used else 'none'} "
            "(check the CUDA/cuDNN libraries match onnxruntime-gpu); or use --device cpu"
        )
    if CUDA in providers and CUDA not in used:
        _warn_once("CUDA is installed but could not be initialised; running on the CPU")
    check_contract(session.get_inputs(), session.get_outputs(), resolved.spec, resolved.path)
    return ModelSession(
        session=session,
        spec=resolved.spec,
        path=resolved.path,
        sha256=resolved.sha256,
        provider=used[0],
        providers=used,
    )


def get_session(
    resolved: ResolvedModel, device: str = "auto", threads: int | None = None
) -> ModelSession:
    """The process-wide session for this model file, device and thread count (created once)."""
    key = (resolved.spec.name, resolved.sha256, str(resolved.path), device, threads)
    if key not in _SESSIONS:
        _SESSIONS[key] = create_session(resolved, device=device, threads=threads)
    return _SESSIONS[key]


def clear_sessions() -> None:
    """Drop every cached session (frees their memory)."""
    _SESSIONS.clear()
