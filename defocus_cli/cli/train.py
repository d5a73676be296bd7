"""``defocus train SYSTEM --out RUN``: train one of the papers' systems (needs the [train] extra)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import click

from defocus_cli.errors import UsageError
from defocus_cli.training.names import SYSTEM_MODULES

TORCH_HINT = 'training needs PyTorch: pip install "defocus-cli[train]"'


def torch_available() -> bool:
    """Whether torch can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_torch() -> None:
    """Exit 2 with a one-line hint when torch is not installed."""
    if not torch_available():
        raise UsageError(TORCH_HINT)


def parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    """``section.key=value`` strings (values parsed as YAML) into nested override dicts."""
    import yaml

    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise UsageError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. model.ngf=32")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise UsageError(f"--set {item!r}: the value is not valid YAML") from None
        value = _as_number(value)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


_EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _as_number(value: Any) -> Any:
    # YAML 1.1 reads exponents without a dot (5e-4) as strings; users mean a number.
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


@click.command("train")
@click.argument("system", type=click.Choice(sorted(SYSTEM_MODULES)))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML with model/data/train sections.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A dataset folder (default: synthetic data on the fly).")
@click.option("--steps", type=click.IntRange(min=1), help="Total optimisation steps.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="Where to train (default cpu).")
@click.option("--width", type=click.Choice(["paper", "cpu", "tiny"]),
              help="Width preset: the paper's, one that trains on a CPU (default), or tiny (tests).")
@click.option("--vgg19", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="torchvision VGG19 state dict for the perceptual loss (default: a documented substitute).")
@click.option("--resnet50", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="torchvision ResNet-50 state dict for the deeplens-depth encoder (default: random init).")
@click.option("--init", "init_from", type=click.Path(dir_okay=False, path_type=Path),
              help="Start from the weights of a model exported from this system and width (fine-tuning).")
@click.option("--workers", type=click.IntRange(min=0), help="DataLoader worker processes.")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override one config value.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--stop-after", type=click.IntRange(min=1), metavar="N",
              help="End this session after N steps with a checkpoint (the schedule still spans --steps; "
                   "continue with --resume).")
def train(system: str, out: Path, config_file: Path | None, data_dir: Path | None, steps: int | None,
          device: str | None, width: str | None, vgg19: Path | None, resnet50: Path | None,
          init_from: Path | None, workers: int | None, sets: tuple[str, ...], resume: bool, stop_after: int | None) -> None:
    """Train SYSTEM into the run folder --out (config, checkpoints, metrics.jsonl, visuals).

    Runs under torchrun unchanged: torchrun --nproc_per_node 2 -m defocus_cli train ...
    Ctrl-C or SIGTERM (a scheduler's pre-emption) saves a checkpoint first.
    """
    require_torch()
    from defocus_cli.training.config import load_yaml
    from defocus_cli.training.loop import train as run_training

    overrides: dict[str, Any] = load_yaml(config_file) if config_file else {}
    cli_values: dict[str, Any] = {"train": {}, "data": {}, "model": {}}
    if steps is not None:
        cli_values["train"]["steps"] = steps
    if device is not None:
        cli_values["train"]["device"] = device
    if workers is not None:
        cli_values["train"]["num_workers"] = workers
    if init_from is not None:
        if resume:
            raise UsageError("--init starts a new run; --resume continues one from its own checkpoint")
        cli_values["train"]["init_from"] = str(init_from)
    if data_dir is not None:
        cli_values["data"]["dir"] = str(data_dir)
    if vgg19 is not None:
        cli_values["model"]["vgg19"] = str(vgg19)
    if resnet50 is not None:
        cli_values["model"]["resnet50"] = str(resnet50)
    merge(overrides, {k: v for k, v in cli_values.items() if v})
    merge(overrides, parse_sets(sets))
    result = run_training(system, out, overrides=overrides, width=width, resume=resume, stop_after=stop_after,
                          echo=lambda message: click.echo(message, err=True))
    if result["rank"] != 0:
        return
    val = " ".join(f"{k}={v:.4g}" for k, v in result["val"].items())
    click.echo(f"{system}: {result['step']} steps in {result['elapsed_s']:.1f} s -> {out}" + (f" ({val})" if val else ""),
               err=True)
