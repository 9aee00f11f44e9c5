"""The realism gate on a benchmark synthesis stage's output, before any downstream training.

:func:`check_stage` runs :func:`medgan.metrics.realism.realism_gate` on the stage's synthetic cases
against the real training cases it was fitted on, writes ``realism.json`` and ``realism.md`` into
the stage's synthetic folder, and :func:`enforce` refuses a failed stage unless the pipeline says
``synthesis: {allow_failed_gate: true}`` (then the arm's rows are flagged in every table of the
report).
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
    raise ConfigError(f"synthesis stage {record.get('stage')!r} failed the realism gate "
                      f"({', '.join(record.get('failed') or [])}; see {folder / REALISM_MD}); its cases are not "
                      "used for training. Set synthesis: {allow_failed_gate: true} to run it anyway, flagged")
