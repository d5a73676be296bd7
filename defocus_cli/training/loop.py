"""The training loop and run folders: ``defocus train SYSTEM --out RUN``.

A run folder holds::

    RUN/config.yaml        the resolved config (all a resume or an export needs)
    RUN/notes.json         what the run used beyond its config (substitute losses, data, hardware)
    RUN/metrics.jsonl      one JSON object per line: {"step", "split": "train"|"val", ...}
    RUN/checkpoints/       step_XXXXXXX.pt (the last ``train.keep_checkpoints``) and last.pt
    RUN/visuals/           PNG strips of input | output | target at each validation

A checkpoint holds the system's networks, optimisers and schedulers, the step count, the
elapsed wall time and torch's RNG state. Data needs no state: item i of the training split is
generated from its own seed and step s reads items ``[s*B*W, (s+1)*B*W)``
(:class:`~defocus_cli.training.datasets.StepSampler`), so ``--resume`` after a kill goes on
with the same batches, and the same losses, as a run that was never stopped.

Validation runs every ``train.val_every`` steps (and at the end) on the fixed held-out split
(``data.val_samples`` items whose seeds never occur in training) and logs the system's
:meth:`~defocus_cli.training.template.TrainingSystem.validation_metrics` (PSNR/SSIM on 8-bit
sRGB for the image systems).

Under ``torchrun`` every rank runs this loop on its slice of each global batch (see
:mod:`defocus_cli.training.distributed`); only rank 0 writes the run folder.
"""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from defocus_cli.errors import DefocusError, DeviceError, UsageError
from defocus_cli.training import distributed as dist
from defocus_cli.training.config import load_yaml, resolve_config, save_yaml
from defocus_cli.training.datasets import StepSampler, describe
from defocus_cli.training.systems import get_system
from defocus_cli.training.template import Config, TrainingSystem
from defocus_cli.training.warm_start import warm_start

CONFIG_NAME = "config.yaml"
NOTES_NAME = "notes.json"
METRICS_NAME = "metrics.jsonl"
LAST = "last.pt"


def hardware() -> str:
    """A one-line description of where this process trains."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} x{dist.world_size()}"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads x{dist.world_size()}"


def build_system(config: Config, device: str | torch.device = "cpu") -> TrainingSystem:
    """The system of a resolved config, initialised from ``train.seed`` (same on every rank)."""
    torch.manual_seed(int(config["train"]["seed"]))
    return get_system(config["system"])(config, device)


def load_run_config(run: Path) -> Config:
    path = run / CONFIG_NAME
    if not path.is_file():
        raise UsageError(f"{run} is not a training run folder (no {CONFIG_NAME})")
    return load_yaml(path)


def find_checkpoint(run: Path) -> Path | None:
    last = run / "checkpoints" / LAST
    return last if last.is_file() else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - a truncated file is the user's to see
        raise UsageError(f"cannot read checkpoint {path}: {error}") from None


def _worker_init(worker_id: int) -> None:
    # Samples are seeded by index; keep each worker single-threaded so workers do not fight
    # the training process for the same cores.
    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)


def _loader(dataset: torch.utils.data.Dataset, sampler: Any, batch_size: int, workers: int, device: torch.device,
            seed: int) -> DataLoader:
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
        pin_memory=device.type == "cuda", worker_init_fn=_worker_init if workers else None,
        persistent_workers=False, prefetch_factor=4 if workers else None,
        # A private generator: creating the iterator must not consume the global torch RNG,
        # or a resumed run would draw different dropout masks than an uninterrupted one.
        generator=torch.Generator().manual_seed(seed),
    )


class RunLog:
    """Appends JSON lines to ``metrics.jsonl`` (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def validate(system: TrainingSystem, dataset: torch.utils.data.Dataset, batch_size: int) -> dict[str, float]:
    """Mean of ``validation_metrics`` over the whole held-out split (weighted by batch size)."""
    totals: dict[str, float] = {}
    count = 0
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                        generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
    for batch in loader:
        n = next(iter(batch.values())).shape[0]
        for key, value in system.validation_metrics(batch).items():
            totals[key] = totals.get(key, 0.0) + value * n
        count += n
    return {k: v / max(count, 1) for k, v in totals.items()}


def save_visuals(visuals: dict[str, torch.Tensor], path: Path) -> None:
    """First item of each visual side by side as an 8-bit PNG (maps shown as grey)."""
    from PIL import Image

    tiles = []
    for tensor in visuals.values():
        t = tensor[0].detach().float().cpu().clamp(0, 1)
        if t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        tiles.append(t[:3].permute(1, 2, 0).numpy())
    h = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    strip = np.concatenate(tiles, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(np.rint(strip * 255), 0, 255).astype(np.uint8)).save(path)


def _save_checkpoint(run: Path, system: TrainingSystem, step: int, elapsed: float, keep: int) -> Path:
    folder = run / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "system": system.state_dict(),
        "step": step,
        "elapsed_s": elapsed,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "config": system.config,
    }
    path = folder / f"step_{step:07d}.pt"
    tmp = folder / f".{path.name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    tmp_last = folder / f".{LAST}.tmp"
    torch.save(state, tmp_last)
    os.replace(tmp_last, folder / LAST)  # atomic: a kill mid-save leaves the previous one
    for old in sorted(folder.glob("step_*.pt"))[: -max(1, keep)]:
        old.unlink(missing_ok=True)
    return path


def _interrupt_on_sigterm() -> Any:
    """Make SIGTERM raise KeyboardInterrupt in the main thread (so the run checkpoints, as on
    Ctrl-C); returns the previous handler, or None where handlers cannot be set."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        return None


def train(
    system_name: str,
    out: str | Path,
    *,
    overrides: Config | None = None,
    width: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    stop_after: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) a run; returns ``{"step", "elapsed_s", "val": {...}, "run": path}``.

    ``overrides`` is a dict of config sections (a YAML file merged with command-line values).
    With ``resume`` the saved config is used and only ``train.steps`` may be raised.
    ``stop_after`` ends this session after that many steps with a checkpoint, as if killed.
    SIGTERM is handled like Ctrl-C: the main process saves a checkpoint and exits.
    ``progress``: a rich progress bar (default: only when stderr is a terminal).
    """
    run = Path(out)
    say = echo or (lambda message: None)
    overrides = overrides or {}
    if resume:
        config = load_run_config(run)
        if config.get("system") != system_name:
            raise UsageError(f"{run} is a {config.get('system')!r} run, not {system_name!r}")
        new_steps = (overrides.get("train") or {}).get("steps")
        if new_steps is not None:
            config["train"]["steps"] = int(new_steps)
        for key in ("device", "num_workers"):
            if key in (overrides.get("train") or {}):
                config["train"][key] = overrides["train"][key]
    else:
        if (run / CONFIG_NAME).exists():
            raise UsageError(f"{run} already holds a run; pass --resume to continue it or choose another --out")
        config = resolve_config(system_name, width, overrides)

    train_cfg = config["train"]
    if train_cfg["device"] == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was requested but torch sees no CUDA device")
    device = dist.init(train_cfg["device"])
    main = dist.is_main()
    rank = dist.rank()
    system = build_system(config, device)
    dist.broadcast_module(system)

    start_step, elapsed = 0, 0.0
    checkpoint = find_checkpoint(run) if resume else None
    if resume and checkpoint is None:
        raise UsageError(f"{run} has no checkpoint to resume from")
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        system.load_state_dict(state["system"])
        start_step, elapsed = int(state["step"]), float(state["elapsed_s"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        say(f"resuming {run} at step {start_step}")
    else:
        if train_cfg.get("init_from"):
            copied, fresh = warm_start(system, Path(train_cfg["init_from"]))
            say(f"starting from the weights of {train_cfg['init_from']} ({copied} tensors"
                + (f"; {fresh} not in the file start fresh)" if fresh else ")"))
        # Dropout masks and critic interpolates differ per rank, like DDP's per-rank batches.
        torch.manual_seed(int(train_cfg["seed"]) * 1000 + dist.rank() + 1)

    train_set = system.make_dataset(config, "train")
    val_set = system.make_dataset(config, "val")
    if main:
        run.mkdir(parents=True, exist_ok=True)
        save_yaml(config, run / CONFIG_NAME)
        notes = {**system.resolved_notes(), "data": describe(train_set), "val_data": describe(val_set),
                 "hardware": hardware(), "torch": torch.__version__, "world_size": dist.world_size()}
        if train_cfg.get("init_from"):
            notes["init_from"] = f"the weights of {Path(train_cfg['init_from']).name} (`--init`)"
        (run / NOTES_NAME).write_text(json.dumps(notes, indent=2) + "\n", encoding="utf-8")
    log = RunLog(run / METRICS_NAME, main)

    total, batch_size = int(train_cfg["steps"]), int(train_cfg["batch_size"])
    end = total if stop_after is None else min(total, start_step + stop_after)
    if start_step >= total:
        say(f"{run} is already at step {start_step} of {total}: nothing to train (raise --steps to go on)")
    sampler = StepSampler(len(train_set), batch_size, start_step, end, rank=dist.rank(),
                          world_size=dist.world_size(), seed=int(config["data"]["seed"]))
    workers = int(train_cfg["num_workers"])
    if workers:
        # OpenCV's thread pool does not survive fork(): a forked worker that calls a pooled
        # cv2 filter can wait forever. Workers already give the data its parallelism.
        import cv2

        cv2.setNumThreads(1)
    loader = _loader(train_set, sampler, batch_size, workers, device, int(train_cfg["seed"]))

    show = (sys.stderr.isatty() if progress is None else progress) and main
    bar = None
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                       TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), transient=False)
        task = bar.add_task(system_name, total=total, completed=start_step, losses="")
        bar.start()

    val_metrics: dict[str, float] = {}
    step = start_step
    session_start = time.perf_counter()
    previous_sigterm = _interrupt_on_sigterm()
    try:
        system.train()
        for batch in loader:
            system.set_input(batch)
            logs = system.optimize_parameters(step)
            if not all(math.isfinite(v) for v in logs.values()):
                bad = ", ".join(k for k, v in logs.items() if not math.isfinite(v))
                raise DefocusError(f"training diverged at step {step + 1} ({bad} not finite); "
                                   "lower train.lr or resume from an earlier checkpoint")
            for scheduler in system.schedulers.values():
                scheduler.step()
            step += 1
            now = elapsed + time.perf_counter() - session_start
            if step % max(1, int(train_cfg["log_every"])) == 0 or step == end:
                logs = dist.all_reduce_mean(logs)
                lr = next(iter(system.optimizers.values())).param_groups[0]["lr"]
                log.write({"step": step, "split": "train", "time_s": round(now, 3), "lr": lr, **logs})
                if bar is not None:
                    text = " ".join(f"{k}={v:.4g}" for k, v in list(logs.items())[:4])
                    bar.update(task, completed=step, losses=text)
            elif bar is not None:
                bar.update(task, completed=step)
            val_every = int(train_cfg["val_every"])
            if ((val_every and step % val_every == 0) or step == total) and main:
                val_metrics = validate(system, val_set, batch_size)
                log.write({"step": step, "split": "val", "time_s": round(now, 3), **val_metrics})
                save_visuals(system.visuals(), run / "visuals" / f"step_{step:07d}.png")
                system.train()
            vis_every = int(train_cfg.get("visuals_every") or 0)
            if main and vis_every and step % vis_every == 0:
                save_visuals(system.visuals(), run / "visuals" / f"train_{step:07d}.png")
            ckpt_every = int(train_cfg["ckpt_every"])
            if main and ((ckpt_every and step % ckpt_every == 0) or step == end):
                _save_checkpoint(run, system, step, now, int(train_cfg["keep_checkpoints"]))
        dist.wait_for_all()
    except KeyboardInterrupt:
        if main and step > start_step:
            _save_checkpoint(run, system, step, elapsed + time.perf_counter() - session_start,
                             int(train_cfg["keep_checkpoints"]))
            say(f"interrupted: checkpoint saved at step {step}; continue with --resume")
        raise
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        if bar is not None:
            bar.stop()
        dist.shutdown()
    elapsed += time.perf_counter() - session_start
    return {"run": str(run), "step": step, "elapsed_s": elapsed, "val": val_metrics, "rank": rank}


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """Every record of a run's ``metrics.jsonl``, in order."""
    path = Path(run) / METRICS_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
