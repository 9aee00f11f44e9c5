"""Markdown report of one evaluation, built from the ``metrics.json`` document alone."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _shares(*rows: tuple[str, dict[str, float] | None]) -> list[str]:
    present = [(name, row) for name, row in rows if row]
    classes = list(present[0][1]) if present else []
    lines = ["| class | " + " | ".join(name for name, _ in present) + " |",
             "|---|" + "---|" * len(present)]
    for c in classes:
        lines.append(f"| {c} | " + " | ".join(f"{row.get(c, 0.0):.1%}" for _, row in present) + " |")
    return lines


def render_report(doc: dict[str, Any]) -> str:
    """``report.md`` text for a ``metrics.json`` document (see :func:`medgan.reports.evaluation.evaluate_datasets`)."""
    metrics = doc.get("metrics", {})
    lines = ["# medgan evaluation", ""]
    for name, info in doc.get("inputs", {}).items():
        lines.append(f"- **{name}**: `{info['path']}` ({info['cases']} cases, {info['spatial_dims']}D, "
                     f"modalities {', '.join(info['modalities'])}, {'labelled' if info['labelled'] else 'unlabelled'})")
    options = doc.get("options", {})
    lines += [f"- feature extractor: `{options.get('extractor')}`, seed {options.get('seed')}, "
              f"medgan {doc.get('medgan_version')}", ""]
    lines += ["## Flags", ""]
    lines += [f"- {flag}" for flag in doc.get("flags", [])] or ["- none raised"]
    lines.append("")
    for note in doc.get("notes", []):
        lines.append(f"Note: {note}.")
    if "fid" in metrics or "kid" in metrics:
        lines += ["## Distribution distance", "",
                  "Lower is closer to the real set. The real-split baseline compares two random halves of the real "
                  "set (smaller samples, so it is biased upwards): a synthetic value near it is as close as real "
                  "data gets at this sample size.", "",
                  "| metric | synthetic vs real | real half vs real half |", "|---|---|---|"]
        if "fid" in metrics:
            m = metrics["fid"]
            lines.append(f"| Fréchet distance ({m['extractor']}, {m['features']} features) | {_f(m['value'])} | "
                         f"{_f(m['real_split_baseline'])} |")
        if "kid" in metrics:
            m = metrics["kid"]
            lines.append(f"| KID ({m['extractor']}) | {_f(m['value'])} ± {_f(m['std'])} | "
                         f"{_f(m['real_split_baseline'])} |")
        lines.append("")
    if "precision_recall" in metrics:
        m = metrics["precision_recall"]
        lines += ["## Precision and recall (Kynkäänniemi et al. 2019)", "",
                  f"Precision (synthetic cases inside the real manifold, fidelity): **{_f(m['precision'])}**; "
                  f"recall (real cases inside the synthetic manifold, variety): **{_f(m['recall'])}** "
                  f"(k = {m['k']}, {m['extractor']} features).", ""]
    if "diversity" in metrics:
        m = metrics["diversity"]
        lines += ["## Diversity", "",
                  f"Mean pairwise {m['measure']} (1 = identical): real {_f(m['real_mean_similarity'])} "
                  f"({m['pairs_real']} pairs), synthetic {_f(m['synthetic_mean_similarity'])} "
                  f"({m['pairs_synthetic']} pairs). Ratio of dissimilarities (synthetic / real): "
                  f"{_f(m['dissimilarity_ratio'])}. Low diversity: **{_f(m['low_diversity'])}**.", ""]
    if "coverage" in metrics:
        m = metrics["coverage"]
        lines += ["## Mode coverage (classifier trained on real classes)", "",
                  f"Real column: {m['real_predictions']}; classifier accuracy on real "
                  f"{_f(m['classifier_accuracy_real'])}. Total variation between the predicted histograms: "
                  f"{_f(m['total_variation'])}. Under-covered classes: {m['under_covered_classes'] or 'none'}.", ""]
        lines += _shares(("training (true)", m["training_true_share"]), ("real (predicted)", m["real_predicted_share"]),
                         ("synthetic (predicted)", m["synthetic_predicted_share"]),
                         ("synthetic (intended)", m.get("synthetic_intended_share")))
        if "synthetic_class_agreement" in m:
            lines.append(f"\nPredicted class agrees with the synthetic label's class in "
                         f"{m['synthetic_class_agreement']:.1%} of synthetic cases.")
        lines.append("")
    if "memorisation" in metrics:
        m = metrics["memorisation"]
        lines += ["## Memorisation", "",
                  f"Nearest `{m['training_set']}` case of every synthetic case. Yardstick: "
                  f"{m.get('yardstick', m['reference'])}. "
                  f"A synthetic case counts as memorised when it is closer than percentile {m['percentile']:g} "
                  f"of the reference distances (new real data: about {m['percentile']:g} % by construction).", "",
                  "| space | threshold | synthetic cases memorised |", "|---|---|---|",
                  f"| image (NCC) | NCC >= {_f(m['image_ncc_threshold'])} | {m['image_fraction_memorised']:.1%} |",
                  f"| features (distance) | <= {_f(m['feature_distance_threshold'])} | "
                  f"{m['feature_fraction_memorised']:.1%} |", "",
                  f"Median nearest-neighbour NCC: synthetic {_f(m['synthetic_nn_ncc_median'])}, "
                  f"real {_f(m['real_nn_ncc_median'])}.", "",
                  "| synthetic | nearest training | NCC | memorised |", "|---|---|---|---|"]
        lines += [f"| {c['synthetic']} | {c['training']} | {c['ncc']:.4f} | {_f(c['memorised'])} |"
                  for c in m["closest_pairs"]]
        if "figure" in m:
            lines += ["", f"![closest pairs]({m['figure']})"]
        lines.append("")
    if "plausibility" in metrics:
        m = metrics["plausibility"]
        seg = m["segmenter"]
        lines += ["## Segmentation plausibility", "",
                  f"{seg['network']} (channels {seg['channels']}, {seg['steps']} steps) trained on real pairs; "
                  "mean Dice against each set's own labels"
                  + (" (real Dice is in-sample, so optimistic)" if m["real_dice_is_in_sample"] else "") + ".", "",
                  "| region | real | synthetic |", "|---|---|---|"]
        for region, value in m["synthetic_dice"].items():
            real = (m["real_dice"] or {}).get(region)
            lines.append(f"| {region} {tuple(m['regions'][region])} | {_f(real)} | {_f(value)} |")
        lines.append("")
    if "sifid" in metrics:
        m = metrics["sifid"]
        lines += ["## Single-image FID (SIFID, Shaham et al. 2019)", "",
                  f"Fréchet distance between the per-position features ({m['extractor']}, {m['features']} "
                  f"features at {m['positions']} positions) of each synthetic case and the real case "
                  f"`{m['real_case']}`, over {m['n_synthetic']} synthetic cases: **{_f(m['value'])} ± "
                  f"{_f(m['std'])}** (mean ± standard deviation; 0 = the real image's own feature statistics). "
                  "Only Inception-based SIFIDs are comparable with published ones.", ""]
    if doc.get("skipped"):
        lines += ["## Not computed", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in doc["skipped"].items()]
        lines.append("")
    return "\n".join(lines)


def summary_line(name: str, result: dict[str, Any]) -> str:
    """One line of the headline numbers of metric ``name`` for the terminal."""
    if name in ("fid", "kid"):
        baseline = _f(result["real_split_baseline"])
        return f"{name} ({result['extractor']}): {_f(result['value'])} (real-split baseline {baseline})"
    if name == "precision_recall":
        return f"precision {_f(result['precision'])}, recall {_f(result['recall'])}"
    if name == "diversity":
        return (f"mean pairwise {result['measure']}: real {_f(result['real_mean_similarity'])}, "
                f"synthetic {_f(result['synthetic_mean_similarity'])}")
    if name == "coverage":
        shares = ", ".join(f"{c}: {v:.0%}" for c, v in result["synthetic_predicted_share"].items())
        return f"synthetic predicted classes {shares}; under-covered {result['under_covered_classes'] or 'none'}"
    if name == "memorisation":
        return (f"memorised (NCC) {result['image_fraction_memorised']:.1%}, "
                f"(features) {result['feature_fraction_memorised']:.1%}; yardstick: "
                f"{result.get('yardstick', result['reference'])}")
    if name == "sifid":
        return (f"sifid ({result['extractor']}): {_f(result['value'])} ± {_f(result['std'])} "
                f"over {result['n_synthetic']} synthetic case(s) against {result['real_case']}")
    if name == "plausibility":
        real = (result["real_dice"] or {}).get("foreground")
        return f"segmenter foreground Dice: real {_f(real)}, synthetic {_f(result['synthetic_dice']['foreground'])}"
    return ", ".join(f"{k}={_f(v)}" for k, v in result.items() if isinstance(v, (int, float)))
