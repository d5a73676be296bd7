"""Wall time and peak memory of every image command, end to end, on a 12 MP JPEG (CPU).

    python benchmarks/commands.py [--size 4000x3000] [--repeats 1] [--only NAME ...]
                                  [--cores N] [--keep DIR] [--write-docs [--docs FILE]]

Each configuration runs the real command (``python -m defocus_cli ...``) in a fresh process:
start-up, imports, JPEG decode, the job, encode and write. Wall time is taken from outside;
peak memory is the child's own ``ru_maxrss`` from ``os.wait4``. The floor is a fresh process
that only opens, decodes and re-encodes the same JPEG with Pillow at quality 95, so
"x floor" says how many JPEG round trips a command costs.

Configurations come from a small table (:data:`CONFIGS`). Each runs only when its subcommand
is registered in ``defocus_cli.cli.main.SUBCOMMANDS``, has the options and choices it uses,
and, for networks, a bundled model of its task is in the registry; otherwise it is skipped
with the reason, so commands and models added later are benchmarked with no change here.
Networks run with ``--device cpu`` and ``HF_HUB_OFFLINE=1`` (nothing is downloaded).

The photo is scikit-image's "coffee" (CC0; reserved, never a training texture), cropped to
the target aspect ratio, upscaled, then given fine texture on the subject and sensor grain
everywhere, so the JPEG decodes like a camera file rather than a smooth upscale. The depth
for ``shallow-dof --depth`` is a synthetic portrait layout (a near subject in front of a
receding table and wall) written as a 16-bit PNG, as ``defocus depth`` writes it.

Project targets at 12 MP on 2 cores: at most 15 s and 3 GB per command. Prints a Markdown
table; ``--write-docs`` puts it, with the machine description, between the
``<!-- commands:begin -->`` and ``<!-- commands:end -->`` markers of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZE = (4000, 3000)
TARGET_SECONDS = 15.0
TARGET_RSS_GB = 3.0
TARGET_MEGAPIXELS = 12.0
BEGIN_MARKER = "<!-- commands:begin -->"
END_MARKER = "<!-- commands:end -->"
#: Exit codes that mean "this installation cannot run it" (weights, device), not a bug.
_UNAVAILABLE_EXIT_CODES = (3, 4)
#: Where the synthetic subject sits, as fractions of the frame (centre x, y; half-axes x, y).
_SUBJECT = (0.55, 0.55, 0.32, 0.35)
_SUBJECT_DEPTH = 0.8

_FLOOR = (
    "import io, sys\n"
    "from PIL import Image\n"
    "image = Image.open(sys.argv[1]); image.load()\n"
    "buffer = io.BytesIO(); image.save(buffer, format='JPEG', quality=95)\n"
)


@dataclass(frozen=True)
class Config:
    """One benchmarked command line.

    ``args`` may hold ``{depth}`` (the synthetic depth PNG) and ``{focus}`` (the subject's
    centre as ``X,Y`` pixels). ``choices`` are (option, value) pairs the command must accept,
    ``options`` options it must have, ``tasks`` model tasks that need a bundled model.
    ``network`` configurations get ``--device cpu`` (other methods may refuse it).
    """

    name: str
    command: str
    args: tuple[str, ...] = ()
    choices: tuple[tuple[str, str], ...] = ()
    options: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    network: bool = False
    output_suffix: str = ".jpg"

    @property
    def label(self) -> str:
        return " ".join((self.command, *self.args)).replace("{depth}", "DEPTH.png").replace("{focus}", "X,Y")


CONFIGS: tuple[Config, ...] = (
    Config("magnify-map", "magnify", ("-m", "2", "--method", "map", "--map-estimator", "fused"),
           choices=(("--method", "map"), ("--map-estimator", "fused")), tasks=("defocus-map",), network=True),
    Config("magnify-map-classical", "magnify", ("-m", "2", "--method", "map", "--map-estimator", "classical"),
           choices=(("--method", "map"), ("--map-estimator", "classical"))),
    Config("magnify-gan", "magnify", ("-m", "2", "--method", "gan"), choices=(("--method", "gan"),),
           tasks=("magnify",), network=True),
    Config("defocus-map-classical", "defocus-map", ("--method", "classical"),
           choices=(("--method", "classical"),), output_suffix=".png"),
    Config("defocus-map-learned", "defocus-map", ("--method", "learned"), choices=(("--method", "learned"),),
           tasks=("defocus-map",), network=True, output_suffix=".png"),
    Config("deblur", "deblur", tasks=("deblur",), network=True),
    Config("deblur-one-pass", "deblur", ("--passes", "1"), choices=(("--passes", "1"),), tasks=("deblur",),
           network=True),
    Config("refocus", "refocus", ("--delta", "5"), options=("--delta",), tasks=("refocus",), network=True),
    Config("refocus-one-pass", "refocus", ("--delta", "5", "--passes", "1"), options=("--delta",),
           choices=(("--passes", "1"),), tasks=("refocus",), network=True),
    # a step between two trained ones: G2 runs for both and the results are blended
    Config("refocus-blended-step", "refocus", ("--delta", "7"), options=("--delta",), tasks=("refocus",),
           network=True),
    Config("depth", "depth", tasks=("depth",), network=True, output_suffix=".png"),
    Config("shallow-dof-depth-file", "shallow-dof", ("--depth", "{depth}", "--focus-point", "{focus}"),
           options=("--depth", "--focus-point")),
    Config("shallow-dof-auto-focus", "shallow-dof", ("--depth", "{depth}"), options=("--depth",)),
    Config("shallow-dof-predicted-depth", "shallow-dof", ("--focus-point", "{focus}"),
           options=("--focus-point",), tasks=("depth",), network=True),
    Config("shallow-dof-learned-lens", "shallow-dof",
           ("--depth", "{depth}", "--focus-point", "{focus}", "--lens", "learned"),
           choices=(("--lens", "learned"),), options=("--depth", "--focus-point"), tasks=("lens-blur",),
           network=True),
)


@dataclass
class Row:
    """The measurements of one configuration (or the floor)."""

    label: str
    seconds: list[float] = field(default_factory=list)
    rss_gb: list[float] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_rss_gb(self) -> float:
        return max(self.rss_gb)


class Unavailable(Exception):
    """The command cannot run in this installation (missing weights or device)."""


class Failed(Exception):
    """The command exited with an error that is not about availability."""


# --- what can run ----------------------------------------------------------------------------


def _click_command(command: str) -> object | None:
    from defocus_cli.cli.main import SUBCOMMANDS

    target = SUBCOMMANDS.get(command)
    if target is None:
        return None
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def _option(command: object, name: str) -> object | None:
    for param in getattr(command, "params", ()):
        if name in getattr(param, "opts", ()) or name in getattr(param, "secondary_opts", ()):
            return param
    return None


def _installed_models(task: str) -> list[str]:
    """Bundled models of ``task`` whose file is present: what a job uses without ``--model``.
    External models are left out, since using them would download."""
    from defocus_cli.models.registry import bundled_weights_dir, get_registry

    return [spec.name for spec in get_registry().for_task(task)
            if spec.file is not None and (bundled_weights_dir() / spec.file).is_file()]


def skip_reason(config: Config) -> str | None:
    """Why ``config`` cannot run here, or None when it can."""
    command = _click_command(config.command)
    if command is None:
        return f"no `{config.command}` subcommand"
    for name in config.options:
        if _option(command, name) is None:
            return f"`{config.command}` has no {name}"
    for name, value in config.choices:
        param = _option(command, name)
        choices = getattr(getattr(param, "type", None), "choices", None)
        if param is None or choices is None or value not in choices:
            return f"`{config.command} {name}` has no choice {value!r}"
    for task in config.tasks:
        if not _installed_models(task):
            return f"no bundled {task!r} model installed"
    return None


def command_line(config: Config, image: Path, depth: Path, output: Path, size: tuple[int, int]) -> list[str]:
    width, height = size
    focus = f"{round(_SUBJECT[0] * (width - 1))},{round(_SUBJECT[1] * (height - 1))}"
    args = [a.replace("{depth}", str(depth)).replace("{focus}", focus) for a in config.args]
    if config.network and _option(_click_command(config.command), "--device") is not None:
        args += ["--device", "cpu"]
    return [sys.executable, "-m", "defocus_cli", config.command, str(image), *args,
            "-o", str(output), "--overwrite", "-q", "--json"]


# --- inputs ------------------------------------------------------------------------------------


def parse_size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH such as 4000x3000, got {value!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError("each side must be at least 16 px")
    return width, height


def make_inputs(folder: Path, size: tuple[int, int], seed: int = 0) -> tuple[Path, Path]:
    """The photo (JPEG, quality 95) and its depth (16-bit PNG, inverse depth) at ``size``."""
    import skimage.data  # the test extra

    width, height = size
    image_path = folder / f"coffee_{width}x{height}.jpg"
    depth_path = folder / f"coffee_{width}x{height}_depth.png"
    if image_path.is_file() and depth_path.is_file():
        return image_path, depth_path
    photo = skimage.data.coffee()
    # Crop to the target aspect ratio first, so the upscale does not stretch the scene.
    ph, pw = photo.shape[:2]
    if pw / ph > width / height:
        keep = round(ph * width / height)
        photo = photo[:, (pw - keep) // 2:(pw - keep) // 2 + keep]
    else:
        keep = round(pw * height / width)
        photo = photo[(ph - keep) // 2:(ph - keep) // 2 + keep]
    big = cv2.resize(photo.astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_CUBIC)

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, ax, ay = _SUBJECT
    subject = ((yy / height - cy) / ay) ** 2 + ((xx / width - cx) / ax) ** 2 < 1.0
    depth = 0.35 * (yy / height)  # table and wall recede towards the top
    depth[subject] = _SUBJECT_DEPTH
    depth = cv2.GaussianBlur(depth, (0, 0), 2.0)
    del yy, xx

    # An upscale is smooth everywhere; a camera file has sharp texture where it is in focus
    # and grain everywhere, which is what JPEG decoding and the blur estimators pay for.
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((height, width), dtype=np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 0.8) - cv2.GaussianBlur(noise, (0, 0), 2.5)
    sharp = cv2.GaussianBlur(subject.astype(np.float32), (0, 0), 4.0)[..., None]
    # Unsharp mask: the upscaled subject's edges become about as crisp as in-focus ones.
    big += 2.0 * (big - cv2.GaussianBlur(big, (0, 0), 3.0)) * sharp
    big += 0.12 * texture[..., None] * sharp
    del texture, sharp
    big += rng.standard_normal(big.shape, dtype=np.float32) * np.float32(2.0 / 255)
    Image.fromarray(np.clip(big * 255 + 0.5, 0, 255).astype(np.uint8)).save(image_path, quality=95)
    cv2.imwrite(str(depth_path), np.round(np.clip(depth, 0, 1) * 65535).astype(np.uint16))
    return image_path, depth_path


# --- running ---------------------------------------------------------------------------------


def _pin(cores: int | None) -> Callable[[], None] | None:
    if cores is None:
        return None
    allowed = sorted(os.sched_getaffinity(0))[:cores]
    return lambda: os.sched_setaffinity(0, allowed)


def run_child(args: Sequence[str], cores: int | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GB, stdout) of one fresh process.

    Raises :class:`Unavailable` for the exit codes of missing weights or device and
    :class:`Failed` for any other error, with the child's last stderr line.
    """
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    # Files, not pipes: os.wait4 reaps the child directly, so nothing may block on a full pipe.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(list(args), stdout=out, stderr=err, env=env, preexec_fn=_pin(cores))
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    code = process.returncode
    if code != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        why = f"exit {code}: {lines[-1].strip() if lines else 'no message'}"
        raise (Unavailable if code in _UNAVAILABLE_EXIT_CODES else Failed)(why)
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    rss_bytes = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return wall, rss_bytes / 1e9, stdout


def _providers(stdout: str) -> set[str]:
    found = set()
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("provider"):
            found.add(str(record["provider"]))
    return found


# --- reporting -------------------------------------------------------------------------------


def machine_description(cores: int | None, providers: set[str]) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    used = min(cores, available or cores) if cores else available
    runtime = "not installed"
    for distribution in ("onnxruntime", "onnxruntime-gpu"):
        try:
            runtime = f"{distribution} {importlib.metadata.version(distribution)}"
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    provider = ", ".join(sorted(providers)) if providers else "CPU requested (no network ran)"
    parts = [f"{cpu}, {used} cores used", f"Python {platform.python_version()}", runtime,
             f"provider {provider}"]
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f} at the start")
    threads = [f"{v}={os.environ[v]}" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if v in os.environ]
    if threads:
        parts.append(" ".join(threads))
    return "; ".join(parts)


def markdown_table(floor: Row, rows: Sequence[Row], size: tuple[int, int]) -> str:
    """The results table; "meets target" is judged only at 12 MP, the size the targets name."""
    at_target_size = abs(size[0] * size[1] / 1e6 - TARGET_MEGAPIXELS) < 0.05 * TARGET_MEGAPIXELS
    lines = ["| command | seconds | x floor | peak RSS (GB) | meets target |", "|---|---:|---:|---:|---|"]
    for row in (floor, *rows):
        ratio = row.median_seconds / floor.median_seconds
        if row is floor:
            verdict = "-"
        elif at_target_size:
            meets = row.median_seconds <= TARGET_SECONDS and row.peak_rss_gb <= TARGET_RSS_GB
            verdict = "yes" if meets else "no"
        else:
            verdict = "n/a (not 12 MP)"
        lines.append(f"| {row.label} | {row.median_seconds:.2f} | {ratio:.1f} | {row.peak_rss_gb:.2f} | {verdict} |")
    return "\n".join(lines)


def replace_section(text: str, body: str) -> str:
    """``text`` with everything between the commands markers replaced by ``body``."""
    start, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"expected {BEGIN_MARKER} ... {END_MARKER} in the document")
    return text[:start + len(BEGIN_MARKER)] + "\n" + body.strip() + "\n" + text[end:]


def report(size: tuple[int, int], repeats: int, machine: str, table: str, skipped: Sequence[tuple[str, str]],
           failed: Sequence[tuple[str, str]]) -> str:
    width, height = size
    lines = [f"{width}x{height} ({width * height / 1e6:.1f} MP) JPEG, median of {repeats} run(s); {machine}.",
             "", table]
    if skipped or failed:
        lines.append("")
    lines += [f"- not run: `{name}` ({why})" for name, why in skipped]
    lines += [f"- failed: `{name}` ({why})" for name, why in failed]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def select(only: Sequence[str] | None) -> list[Config]:
    if not only:
        return list(CONFIGS)
    known = {c.name for c in CONFIGS} | {c.command for c in CONFIGS}
    unknown = sorted(set(only) - known)
    if unknown:
        raise SystemExit(f"unknown --only {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    return [c for c in CONFIGS if c.name in only or c.command in only]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, metavar="WxH",
                        help="photo size (default 4000x3000, 12 MP; e.g. 1000x750 for a quick check)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration; the median is reported")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="a configuration or subcommand name (repeatable): "
                             + ", ".join(c.name for c in CONFIGS))
    parser.add_argument("--cores", type=int, default=None, help="pin the commands to this many cores (Linux)")
    parser.add_argument("--keep", type=Path, default=None, help="keep inputs and outputs in this folder")
    parser.add_argument("--write-docs", action="store_true", help="write the results into --docs")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md",
                        help="the Markdown file with the commands markers (default docs/BENCHMARKS.md)")
    options = parser.parse_args(argv)
    if options.repeats < 1:
        parser.error("--repeats must be at least 1")
    if options.cores is not None and (options.cores < 1 or not hasattr(os, "sched_setaffinity")):
        parser.error("--cores needs a positive count and a system with CPU affinity (Linux)")
    configs = select(options.only)

    runnable, skipped = [], []
    for config in configs:
        why = skip_reason(config)
        if why is None:
            runnable.append(config)
        else:
            skipped.append((config.name, why))
            print(f"skipping {config.name}: {why}", file=sys.stderr)

    folder = options.keep or Path(tempfile.mkdtemp(prefix="defocus-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    image, depth = make_inputs(folder, options.size)
    print(f"photo {image.name}: {image.stat().st_size / 1e6:.1f} MB", file=sys.stderr)

    floor = Row("floor: Pillow JPEG decode + encode (q95)")
    for _ in range(options.repeats):
        wall, rss, _ = run_child([sys.executable, "-c", _FLOOR, str(image)], options.cores)
        floor.seconds.append(wall)
        floor.rss_gb.append(rss)
    rows, failed, providers = [], [], set()
    for config in runnable:
        row = Row(config.label)
        output = folder / f"out_{config.name}{config.output_suffix}"
        args = command_line(config, image, depth, output, options.size)
        try:
            for _ in range(options.repeats):
                wall, rss, stdout = run_child(args, options.cores)
                row.seconds.append(wall)
                row.rss_gb.append(rss)
                providers |= _providers(stdout)
                print(f"{config.name}: {wall:.2f} s, {rss:.2f} GB", file=sys.stderr)
        except Unavailable as error:
            skipped.append((config.name, str(error)))
            print(f"skipping {config.name}: {error}", file=sys.stderr)
            continue
        except Failed as error:
            failed.append((config.name, str(error)))
            print(f"FAILED {config.name}: {error}", file=sys.stderr)
            continue
        rows.append(row)

    text = report(options.size, options.repeats, machine_description(options.cores, providers),
                  markdown_table(floor, rows, options.size), skipped, failed)
    print(text)
    if options.write_docs:
        options.docs.write_text(replace_section(options.docs.read_text(encoding="utf-8"), text), encoding="utf-8")
        print(f"wrote {options.docs}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
