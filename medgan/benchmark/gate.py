"""The gate on a benchmark synthesis stage's output, before any downstream training.

:func:`check_stage` runs :func:`medgan.metrics.realism.realism_gate` on the stage's synthetic cases
against the real training cases it was fitted on, writes ``realism.json`` and ``realism.md`` into
the stage's synthetic folder, and :func:`enforce` refuses a failed stage unless the pipeline says
``synthesis: {allow_failed_gate: true}`` (then the arm's rows are flagged in every table of the
report).

Translation stages (``cyclegan``, ``pix2pix``: cases whose target channel is the translation of
their source channel) make no new lesions, so the realism gate does not apply to them; they get the
translation gate instead (:func:`check_translation`, :mod:`medgan.metrics.translation_checks`):
every lesion of the source case visible in its real target channel must stay visible, no
lesion-like blob may appear outside the labels, and the per-tissue medians must lie in the real
training range. Its verdict goes into the same files, with ``"kind": "translation"``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medgan.errors import ConfigError
from medgan.io import write_text_atomic

REALISM_JSON, REALISM_MD = "realism.json", "realism.md"
PASSED, FAILED, NOT_APPLICABLE = "passed", "failed", "not applicable"


def check_stage(stage: str, synthetic: Sequence[dict[str, Any]], real: Sequence[dict[str, Any]], folder: Path
                ) -> dict[str, Any]:
    """Gate ``synthetic`` cases against the ``real`` training cases; write the verdict into ``folder``.

    Copy-paste stages may copy real lesions (memorisation is not held against them). A real set
    without lesions, or synthetic cases of other channels, cannot be judged: ``not applicable``.

    Returns:
        The record written to ``realism.json``: ``stage``, ``status`` and the gate's numbers.
    """
    from medgan.metrics.realism import RealismOptions, realism_gate, realism_markdown

    if synthetic and translated_channel(synthetic[0]):
        record, text = check_translation(stage, synthetic, real)
        write_text_atomic(folder / REALISM_JSON, json.dumps(record, indent=1))
        write_text_atomic(folder / REALISM_MD, text)
        return record
    try:
        result = realism_gate(synthetic, real, options=RealismOptions(allow_copies=stage == "copy-paste"))
    except ValueError as error:
        record = {"stage": stage, "status": NOT_APPLICABLE, "reason": str(error)}
        text = f"### Realism gate ({stage}): not applicable\n\n{error}\n"
    else:
        record = {"stage": stage, "status": PASSED if result.passed else FAILED, **result.to_dict()}
        text = realism_markdown(result, title=f"Realism gate ({stage})")
    write_text_atomic(folder / REALISM_JSON, json.dumps(record, indent=1))
    write_text_atomic(folder / REALISM_MD, text)
    return record


def translated_channel(case: dict[str, Any]) -> str:
    """The channel a translation stage replaced in ``case`` (its history's ``*-translate`` step), or ``""``."""
    for step in reversed(case.get("meta", {}).get("history") or []):
        if str(step.get("name", "")).endswith("-translate"):
            return str(step.get("to", ""))
    return ""


def check_translation(stage: str, synthetic: Sequence[dict[str, Any]], real: Sequence[dict[str, Any]]
                      ) -> tuple[dict[str, Any], str]:
    """The translation gate: each translated case against the real target channel of its source case.

    Tissue classes are in HU (fixed thresholds) when the real target looks like CT in HU (its 1st
    percentile below -900), else the multi-Otsu classes of the real training channels.

    Returns:
        ``(record, markdown)``; ``record["status"]`` is ``passed``, ``failed`` or ``not applicable``
        (no source case found).
    """
    import numpy as np

    from medgan.metrics.translation import BODY_HU, body_mask
    from medgan.metrics.translation_checks import check_case, fit_tissue_ranges, gate_markdown, translation_gate
    from medgan.transforms.scaling import foreground_mask

    by_id = {str(c.get("id")): c for c in real}
    target = translated_channel(synthetic[0])

    def channel(case: dict[str, Any]) -> np.ndarray:
        names = list(case["meta"].get("modalities") or [])
        return np.asarray(case["image"][names.index(target)], np.float64)

    references = [channel(c) for c in real if target in (c["meta"].get("modalities") or [])]
    pairs = [(c, by_id.get(str(c["meta"].get("source_case", "")))) for c in synthetic]
    pairs = [(c, source) for c, source in pairs if source is not None and target in source["meta"]["modalities"]]
    if not references or not pairs:
        record = {"stage": stage, "kind": "translation", "status": NOT_APPLICABLE,
                  "reason": f"no real {target!r} channel of the translated cases' source cases"}
        return record, f"### Translation gate ({stage}): not applicable\n\n{record['reason']}\n"
    unit = "HU" if float(np.percentile(np.concatenate([r.ravel() for r in references]), 1)) < -900 else "units"
    ranges = fit_tissue_ranges(references, unit)
    results = []
    for case, source in pairs:
        reference = channel(source)
        body = body_mask(reference, BODY_HU) if unit == "HU" else foreground_mask(reference[None])
        results.append(check_case(str(case.get("id")), channel(case), reference, np.asarray(source["label"]),
                                  body, source["meta"].get("spacing"), ranges))
    gate = translation_gate(results)
    record = {"stage": stage, "kind": "translation", "status": PASSED if gate["passed"] else FAILED, **gate,
              "ranges": ranges.to_dict()}
    return record, gate_markdown(gate, ranges, title=f"Translation gate ({stage})")


def read_gate(folder: Path) -> dict[str, Any]:
    """The gate record of a synthetic folder (``{}`` when none was written)."""
    path = folder / REALISM_JSON
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {"status": "unreadable"}


def enforce(record: dict[str, Any], folder: Path, allow_failed: bool) -> None:
    """Refuse a failed stage (one line naming the stage and the failed criteria) unless allowed.

    Raises:
        ConfigError: the stage failed the gate and ``allow_failed`` is false.
    """
    if record.get("status") != FAILED or allow_failed:
        return
    kind = "translation gate" if record.get("kind") == "translation" else "realism gate"
    raise ConfigError(f"synthesis stage {record.get('stage')!r} failed the {kind} "
                      f"({', '.join(record.get('failed') or [])}; see {folder / REALISM_MD}); its cases are not "
                      "used for training. Set synthesis: {allow_failed_gate: true} to run it anyway, flagged")
