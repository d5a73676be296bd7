"""Which ``shallow-dof --lens`` renders closer to the light-field reference: classical or learned.

    python benchmarks/lens_choice.py [--lens-model NAME|PATH] [--scenes 24] [--size 128]

Scenes are held-out DeepLens composites (``data.tasks.deeplens_sample``, seeds never used in
training), rendered at ``size`` px and at 4x that size with K four times larger (the learned
lens then runs on a copy shrunk until K fits its training maximum, as it does on photos).
Both lenses get the true depth, focus and K, through the same pipeline functions the command
uses, without grain; scores are PSNR/SSIM on 8-bit sRGB against the light-field render, next
to the all-in-focus input and a naive per-pixel gather blur. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from defocus_cli.cli.model_options import open_model
from defocus_cli.data.tasks import deeplens_sample
from defocus_cli.ops.color import linear_to_srgb, srgb_to_linear
from defocus_cli.ops.metrics import psnr, ssim
from defocus_cli.pipelines.learned_lens import learned_shallow_dof
from defocus_cli.pipelines.shallow_dof import shallow_dof
from defocus_cli.training.eval_deeplens import naive_gather_blur

FACTORS = (1, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lens-model", default=None, help="lens-blur model (default: the installed one)")
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=4321)
    options = parser.parse_args()
    lens = open_model("lens-blur", model=options.lens_model, device="cpu")
    names = ("identity", "naive gather", "classical", "learned")
    scores: dict[tuple[int, str], list[tuple[float, float]]] = {}
    start = time.perf_counter()
    for factor in FACTORS:
        for i in range(options.scenes):
            s = deeplens_sample(np.random.default_rng((options.seed, i)), options.size * factor,
                                blur_radius_px=(2.0 * factor, 10.0 * factor))
            image, depth, target = s["image"], s["depth"], s["target"]
            focus, k = float(s["focus_depth"]), float(s["blur_radius_px"])
            gather = naive_gather_blur(srgb_to_linear(image), depth, focus, k)
            outputs = {
                "identity": image,
                "naive gather": np.clip(linear_to_srgb(np.clip(gather, 0, 1)), 0, 1),
                "classical": shallow_dof(image, depth, focus, k, grain=False),
                "learned": learned_shallow_dof(image, depth, focus, k, lens, grain=False),
            }
            for name, out in outputs.items():
                scores.setdefault((factor, name), []).append((psnr(out, target), ssim(out, target)))
    print(f"lens model {lens.spec.name} ({lens.sha256[:12]}), {options.scenes} scenes per size, "
          f"{time.perf_counter() - start:.0f} s\n")
    print(f"| size | K | {' | '.join(names)} |")
    print("|---|---|" + "---|" * len(names))
    for factor in FACTORS:
        cells = [f"{statistics.mean(v[0] for v in scores[(factor, n)]):.2f} / "
                 f"{statistics.mean(v[1] for v in scores[(factor, n)]):.3f}" for n in names]
        print(f"| {options.size * factor} px | {2 * factor:g}-{10 * factor:g} px | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
