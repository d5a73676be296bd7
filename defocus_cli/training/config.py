"""Resolving a run's configuration: loop defaults < system preset < YAML file < command line.

The resolved config is a nested dict with sections ``system``, ``width``, ``model``, ``data``
and ``train`` (see :mod:`defocus_cli.training.template`); it is saved as ``config.yaml`` in
the run folder and is all a resume or an export needs. Keys that neither the loop nor the
system defines are a usage error, so a typo in a YAML file fails loudly instead of being
ignored.

>>> cfg = resolve_config("magnify", width="tiny", overrides={"train": {"steps": 3}})
>>> cfg["train"]["steps"], cfg["model"]["ngf"]
(3, 4)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from defocus_cli.errors import UsageError
from defocus_cli.training.template import WIDTHS, Config

#: The loop's own defaults; systems override some in ``default_config``.
BASE_CONFIG: Config = {
    "model": {},
    "data": {
        "crop": [64, 64],  # H, W of training crops (multiples of the system's stride)
        "dir": None,  # a real dataset folder; None = synthetic data on the fly
        "seed": 0,  # data seeds: item i of split s comes from (seed, s, i)
        "val_samples": 16,  # size of the fixed held-out synthetic split
        "val_crop": None,  # H, W of validation images (default: crop)
    },
    "train": {
        "steps": 2000,
        "batch_size": 4,
        "lr": 1e-4,
        "betas": [0.5, 0.999],
        "seed": 0,
        "log_every": 10,
        "val_every": 500,
        "ckpt_every": 500,
        "visuals_every": 0,  # also save training visuals every N steps (0 = only at validation)
        "num_workers": 2,
        "device": "cpu",
        "keep_checkpoints": 2,
        "init_from": None,  # an exported model (.onnx) whose weights a new run starts from
    },
}

SECTIONS = ("model", "data", "train")


def deep_merge(base: dict[str, Any], update: dict[str, Any], *, path: str = "", strict: bool = True) -> dict[str, Any]:
    """``base`` updated by ``update`` recursively (copies); with ``strict``, keys absent from
    ``base`` are a :class:`UsageError` naming their dotted path."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        where = f"{path}{key}"
        if key not in out:
            if strict:
                known = ", ".join(sorted(out)) or "none"
                raise UsageError(f"unknown config key {where!r} (known here: {known})")
            out[key] = copy.deepcopy(value)
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value, path=f"{where}.", strict=strict)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: str | Path) -> Config:
    """A YAML config file as a dict; unreadable or non-mapping files are usage errors."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read config {p}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"config {p} is not valid YAML: {str(error).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config {p} must be a mapping of sections (model, data, train)")
    return data


def save_yaml(config: Config, path: str | Path) -> None:
    import yaml

    Path(path).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def resolve_config(system: str, width: str | None = None, overrides: Config | None = None) -> Config:
    """The full config of a run of ``system``.

    ``overrides`` is a dict of sections (a YAML file's content, then command-line values
    merged into it); it may also carry ``width``. The width preset defaults to ``"cpu"``.
    """
    from defocus_cli.training.systems import get_system

    overrides = copy.deepcopy(overrides or {})
    extra = sorted(set(overrides) - {*SECTIONS, "width", "system"})
    if extra:
        raise UsageError(f"unknown config section(s) {', '.join(extra)} (use model, data, train, width)")
    if overrides.get("system", system) != system:
        raise UsageError(f"the config is for system {overrides['system']!r}, not {system!r}")
    width = width or overrides.get("width") or "cpu"
    if width not in WIDTHS:
        raise UsageError(f"unknown width preset {width!r} (one of {', '.join(WIDTHS)})")
    cls = get_system(system)
    preset = cls.default_config(width)
    config = {"system": system, "width": width}
    for section in SECTIONS:
        # A system may add keys to data/train (its sampler's parameters); the user may not.
        merged = deep_merge(BASE_CONFIG[section], preset.get(section, {}), strict=False)
        config[section] = deep_merge(merged, overrides.get(section, {}) or {}, path=f"{section}.")
    _check(config, cls.stride)
    return config


def _check(config: Config, stride: int) -> None:
    train, data = config["train"], config["data"]
    for key in ("steps", "batch_size", "log_every", "val_every", "ckpt_every"):
        if not isinstance(train[key], int) or train[key] < (0 if key != "steps" and key != "batch_size" else 1):
            raise UsageError(f"train.{key} must be a positive integer, got {train[key]!r}")
    if not isinstance(train["lr"], int | float) or train["lr"] <= 0:
        raise UsageError(f"train.lr must be positive, got {train['lr']!r}")
    for key in ("crop", "val_crop"):
        value = data.get(key)
        if value is None and key == "val_crop":
            continue
        if isinstance(value, int):
            value = data[key] = [value, value]
        if (not isinstance(value, list | tuple) or len(value) != 2
                or not all(isinstance(v, int) and v >= stride and v % stride == 0 for v in value)):
            raise UsageError(f"data.{key} must be H, W in pixels, multiples of {stride}, got {value!r}")
        data[key] = [int(value[0]), int(value[1])]
    if train["device"] not in ("cpu", "cuda"):
        raise UsageError(f"train.device must be cpu or cuda, got {train['device']!r}")
