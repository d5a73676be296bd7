"""Which ``deblur --mode`` recovers the all-in-focus image better, on synthetic focal stacks
rendered at 1x, 2x and 4x the training scale.

    python benchmarks/deblur_modes.py [--model NAME|PATH] [--scenes 8] [--size 128] [--fixed 0.5 0.25]
                                      [--train-blur 2 6] [--passes 1]

Each scene is one focal slice (random slice index) of the data engine's 10-slice stacks,
rendered at ``4 * size`` px with blur radius K ~ U(4 lo, 4 hi) px, i.e. the training
distribution (64 px crops, K ~ U(lo, hi) = ``--train-blur``, the shipped model's 2..6) at
four times the resolution; area-averaging gives
the same scene at 2x and 1x, with proportionally smaller blur. Each copy is deblurred in
``tiles`` and in ``scaled`` mode (working scale estimated from the photo) and scored against
the all-in-focus render (PSNR/SSIM on 8-bit sRGB), next to the identity (the input itself)
and ``scaled`` at each ``--fixed`` working scale: at 2x the ideal scale is about 1/2, at 4x
about 1/4, so the fixed columns show whether the estimated scale (last column) lands where
it should (the model's ``working_blur_radius_px`` sets it). Every column runs the network with
the same ``--passes`` (mirrored copies averaged; the commands' own default differs by mode),
so the modes are compared on equal terms. Prints a Markdown table. Needs a deblur model
(installed, or ``--model``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from defocus_cli.cli.model_options import open_model
from defocus_cli.data.tasks import FOCAL_STACK_SLICES, focal_stack_sample
from defocus_cli.ops.metrics import psnr, ssim
from defocus_cli.ops.views import PASSES
from defocus_cli.pipelines.deblur import deblur

FACTORS = (1, 2, 4)


def scenes(count: int, size: int, seed: int, train_blur: tuple[float, float]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(slice, all-in-focus) pairs at ``4 * size`` px, blurred 4x as much as in training."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        index = int(rng.integers(0, FOCAL_STACK_SLICES))
        sample = focal_stack_sample(rng, 4 * size, blur_radius_px=(4 * train_blur[0], 4 * train_blur[1]), slice_indices=(index,))
        pairs.append((sample["slices"][0], sample["all_in_focus"]))
    return pairs


def at_factor(image: np.ndarray, size: int, factor: int) -> np.ndarray:
    side = size * factor
    return image if image.shape[0] == side else cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="deblur model (default: the installed one)")
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="side of the 1x copy in px")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--fixed", type=float, nargs="*", default=[0.5, 0.25], help="fixed working scales to compare")
    parser.add_argument("--train-blur", type=float, nargs=2, default=[2.0, 6.0], metavar=("LO", "HI"),
                        help="the K range (px) the model was trained on")
    parser.add_argument("--passes", type=int, choices=PASSES, default=1,
                        help="mirrored network passes averaged, the same for every column")
    options = parser.parse_args()
    net = open_model("deblur", model=options.model, device="cpu")
    pairs = scenes(options.scenes, options.size, options.seed, tuple(options.train_blur))
    scores: dict[tuple[int, str], list[tuple[float, float]]] = {}
    scales: dict[int, list[float]] = {}
    start = time.perf_counter()
    for slice_4x, aif_4x in pairs:
        for factor in FACTORS:
            image, target = at_factor(slice_4x, options.size, factor), at_factor(aif_4x, options.size, factor)
            passes = options.passes
            outputs = {"identity": image, "tiles": deblur(image, net, mode="tiles", passes=passes).pixels}
            result = deblur(image, net, mode="scaled", passes=passes)
            outputs["scaled"] = result.pixels
            scales.setdefault(factor, []).append(result.scale)
            for fixed in options.fixed:
                outputs[f"scaled s={fixed:g}"] = deblur(image, net, mode="scaled", scale=fixed, passes=passes).pixels
            for name, out in outputs.items():
                scores.setdefault((factor, name), []).append((psnr(out, target), ssim(out, target)))
    print(f"model {net.spec.name} ({net.sha256[:12]}), {options.scenes} scenes, {options.passes} pass(es), "
          f"{time.perf_counter() - start:.0f} s\n")
    names = ["identity", "tiles", "scaled", *(f"scaled s={fixed:g}" for fixed in options.fixed)]
    print(f"| scale | side px | {' | '.join(names)} | estimated working scale |")
    print("|---|---|" + "---|" * (len(names) + 1))
    print("| | | " + " | ".join("PSNR / SSIM" for _ in names) + " | |")
    for factor in FACTORS:
        cells = []
        for name in names:
            values = scores[(factor, name)]
            cells.append(f"{statistics.mean(v[0] for v in values):.2f} / {statistics.mean(v[1] for v in values):.3f}")
        print(f"| {factor}x | {options.size * factor} | {' | '.join(cells)} | {statistics.mean(scales[factor]):.2f} |")


if __name__ == "__main__":
    main()
