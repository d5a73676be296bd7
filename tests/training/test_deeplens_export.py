"""Export parity of the DMENet and DeepLens inference graphs (defocus_cli/training/export.py
on the systems of defocus_cli/training/systems/dmenet.py and deeplens.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defocus_cli.training.config import resolve_config
from defocus_cli.training.export import TOLERANCE, export_onnx
from defocus_cli.training.systems import get_system


@pytest.mark.parametrize("name", ["dmenet", "deeplens-depth", "deeplens-blur"])
def test_onnx_matches_torch_at_two_sizes(name, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    system = get_system(name)(resolve_config(name, width="tiny")).eval()
    s = system.stride
    path = tmp_path / f"{name}.onnx"
    worst = export_onnx(system, path, sizes=((4 * s, 6 * s), (3 * s, 5 * s)))
    assert worst < TOLERANCE
    # a third, non-square size that the export check did not see
    contract = system.export_contract()
    example = contract.example(5 * s, 2 * s)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = session.run(None, {t.name: x.numpy() for t, x in zip(contract.inputs, example, strict=True)})
    with torch.no_grad():
        refs = system.inference_module().eval()(*example)
    refs = refs if isinstance(refs, tuple) else (refs,)
    assert len(outs) == len(refs) == len(contract.outputs)
    for out, ref in zip(outs, refs, strict=True):
        assert out.shape == tuple(ref.shape) and float(np.abs(out - ref.numpy()).max()) < TOLERANCE
