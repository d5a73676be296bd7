"""Names of the trainable systems and their modules, importable without torch (the CLI
builds its choices from here before deciding whether torch is needed)."""

from __future__ import annotations

#: System name -> module that registers it. ``defocus train`` offers exactly these names.
SYSTEM_MODULES: dict[str, str] = {
    "magnify": "defocus_cli.training.systems.magnify",
    "deblur": "defocus_cli.training.systems.refocus",
    "refocus": "defocus_cli.training.systems.refocus",
    "dmenet": "defocus_cli.training.systems.dmenet",
    "deeplens-depth": "defocus_cli.training.systems.deeplens",
    "deeplens-blur": "defocus_cli.training.systems.deeplens",
}

#: Tasks ``defocus eval`` builds tables for (see ``training.evaluate.TABLE_MODULES``).
EVAL_TASKS: tuple[str, ...] = ("magnify", "deblur", "refocus", "defocus-map", "depth", "lens-blur")
