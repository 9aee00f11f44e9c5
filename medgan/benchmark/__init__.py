"""Downstream benchmark: does augmentation help? See ``docs/benchmark.md``."""

from __future__ import annotations

