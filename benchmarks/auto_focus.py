"""How often ``shallow-dof``'s automatic focus keeps the subject sharp, on held-out synthetic
depth scenes.

    python benchmarks/auto_focus.py [--scenes 300] [--size 256] [--closeups 0.3] [--share 0.3 0.15]
                                    [--featureless-weight 1 0.2]
                                    [--depth-model NAME|PATH] [--no-predicted]

Each scene is one :func:`~defocus_cli.data.tasks.depth_scene_sample` (``--closeups`` of the
photographic ones are frame-filling close-ups), whose segmentation marks the nearest object:
the subject. The focus is chosen from the true depth and from the depth model's prediction,
and scored by how much of the subject a 4 % blur radius (K = 0.04 x the long side) would
keep within 1 px of sharp, in the depth the render would use. A scene is a hit when at least
half of its subject stays sharp. Rows: :func:`~defocus_cli.pipelines.shallow_dof.auto_focus_depth`
steered by the photo's subject weights (colour saliency, halved where the photo has no
detail: :func:`~defocus_cli.ops.saliency.subject_weights`) at each ``--subject-sigma``
(``AUTO_FOCUS_SUBJECT_SIGMA_FRACTION``; the first is the shipped value when omitted), as
``shallow-dof`` runs it; the same with a featureless area keeping each
``--featureless-weight`` of its saliency (1 = the colour saliency alone, the previous rule);
the same without a subject map at each ``--share`` (its
``AUTO_FOCUS_PEAK_SHARE``); when the depth model has a subject output, steered by the
predicted subject map instead (true-depth column: the true depth with the predicted
subject); and the depth at the centre pixel as the baseline. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from defocus_cli.data.tasks import depth_scene_sample
from defocus_cli.ops.saliency import (
    FEATURELESS_WEIGHT,
    colour_saliency,
    detail_map,
    detail_weighted,
)
from defocus_cli.pipelines import shallow_dof
from defocus_cli.pipelines.depth import SUBJECT_OUTPUT, predict_depth_and_subject

BLUR_FRACTION = 0.04
HIT_SHARE = 0.5


#: What a focus rule sees of the photo: its colour saliency and its detail map.
PhotoMaps = tuple[np.ndarray, np.ndarray]
#: A focus rule: (depth, the depth model's subject map or None, the photo's maps) -> focus.
FocusRule = Callable[[np.ndarray, np.ndarray | None, PhotoMaps], float]


def auto_focus_with(setting: str, value: float, steer: str,
                    featureless_weight: float = FEATURELESS_WEIGHT) -> FocusRule:
    """``auto_focus_depth`` with one of its module constants set to ``value``, steered by the
    photo's subject ``"weights"``, the ``"predicted"`` subject map, or ``"nothing"``."""
    def focus(depth: np.ndarray, subject_map: np.ndarray | None, maps: PhotoMaps) -> float:
        shipped = getattr(shallow_dof, setting)
        setattr(shallow_dof, setting, value)
        try:
            steering = {"weights": lambda: detail_weighted(*maps, featureless_weight), "predicted": lambda: subject_map,
                        "nothing": lambda: None}[steer]()
            return shallow_dof.auto_focus_depth(depth, steering)
        finally:
            setattr(shallow_dof, setting, shipped)
    return focus


def centre_depth(depth: np.ndarray, subject_map: np.ndarray | None = None, maps: PhotoMaps | None = None) -> float:
    return float(depth[depth.shape[0] // 2, depth.shape[1] // 2])


def sharp_share(depth: np.ndarray, subject: np.ndarray, focus: float, blur_radius_px: float) -> float:
    """Share of the subject's pixels whose CoC radius stays under 1 px."""
    return float(np.mean(np.abs(depth[subject] - focus) * blur_radius_px < 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--closeups", type=float, default=0.3, help="share of close-up scenes")
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument("--share", type=float, nargs="*", default=None,
                        help="AUTO_FOCUS_PEAK_SHARE values to compare (default: the shipped one)")
    parser.add_argument("--subject-sigma", type=float, nargs="*", default=None,
                        help="AUTO_FOCUS_SUBJECT_SIGMA_FRACTION values to compare (default: the shipped one)")
    parser.add_argument("--featureless-weight", type=float, nargs="*", default=None,
                        help="FEATURELESS_WEIGHT values to compare beside the shipped one (1 = saliency alone)")
    parser.add_argument("--depth-model", default=None, help="depth model (default: the installed one)")
    parser.add_argument("--no-predicted", action="store_true", help="score on the true depth only")
    args = parser.parse_args()

    sigmas = args.subject_sigma or [shallow_dof.AUTO_FOCUS_SUBJECT_SIGMA_FRACTION]
    rules: dict[str, FocusRule] = {
        f"auto focus steered by the photo's subject weights, sigma {sigma:g}":
            auto_focus_with("AUTO_FOCUS_SUBJECT_SIGMA_FRACTION", sigma, steer="weights")
        for sigma in sigmas
    }
    rules.update({
        f"the same, sigma {sigmas[0]:g}, featureless areas keeping {weight:g} of their saliency":
            auto_focus_with("AUTO_FOCUS_SUBJECT_SIGMA_FRACTION", sigmas[0], steer="weights", featureless_weight=weight)
        for weight in (args.featureless_weight or [])
    })
    rules.update({
        f"auto focus without a subject map, peak share {share:g}":
            auto_focus_with("AUTO_FOCUS_PEAK_SHARE", share, steer="nothing")
        for share in (args.share or [shallow_dof.AUTO_FOCUS_PEAK_SHARE])
    })
    model = None
    if not args.no_predicted:
        from defocus_cli.cli.model_options import open_model

        model = open_model("depth", args.depth_model, device="cpu")
        if any(t.name == SUBJECT_OUTPUT for t in model.spec.outputs):
            for sigma in sigmas:
                rules[f"auto focus steered by the predicted subject, sigma {sigma:g}"] = auto_focus_with(
                    "AUTO_FOCUS_SUBJECT_SIGMA_FRACTION", sigma, steer="predicted")
    rules["centre pixel's depth"] = centre_depth
    blur_radius_px = BLUR_FRACTION * args.size
    scores: dict[tuple[str, str], list[float]] = {}
    rng = np.random.default_rng(args.seed)
    for _ in range(args.scenes):
        sample = depth_scene_sample(rng, args.size, closeup_share=args.closeups)
        subject = sample["segmentation"] > 0.5
        if not subject.any():
            continue
        image = np.clip(sample["image"], 0.0, 1.0)
        maps = (colour_saliency(image), detail_map(image))
        depths = {"true depth": sample["depth"]}
        subject_map = None
        if model is not None:
            prediction = predict_depth_and_subject(image, model)
            depths["predicted depth"], subject_map = prediction.depth, prediction.subject
        for rule, focus_of in rules.items():
            for kind, depth in depths.items():
                share = sharp_share(depth, subject, focus_of(depth, subject_map, maps), blur_radius_px)
                scores.setdefault((rule, kind), []).append(share)
    kinds = ["true depth"] + ([] if model is None else ["predicted depth"])
    print(f"{len(scores[next(iter(scores))])} scenes at {args.size} px, K = {blur_radius_px:g} px; "
          f"hit = at least {HIT_SHARE:.0%} of the subject sharp\n")
    print("| focus rule | " + " | ".join(f"{k}: subject sharp | {k}: hits" for k in kinds) + " |")
    print("|---|" + "---:|---:|" * len(kinds))
    for rule in rules:
        cells = []
        for kind in kinds:
            values = np.asarray(scores[(rule, kind)])
            cells += [f"{values.mean():.3f}", f"{np.mean(values >= HIT_SHARE):.3f}"]
        print(f"| {rule} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
