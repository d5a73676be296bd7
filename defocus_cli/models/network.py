"""What an inference pipeline needs from a loaded network.

``cli.model_options.LoadedModel`` satisfies it; tests pass small fakes. Pipelines depend on
this protocol, not on the command-line layer that opens models.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from defocus_cli.models.registry import ModelSpec


class Network(Protocol):
    """A loaded model: its registry entry and one run over named NCHW/NC float32 arrays."""

    @property
    def spec(self) -> ModelSpec: ...

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...
