"""ultralytics imported with every network path switched off, and its global side effects undone."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from medgan.benchmark.yolo.options import MISSING_ULTRALYTICS
from medgan.errors import ConfigError


def ultralytics_available() -> bool:
    """Whether the optional ultralytics package can be imported."""
    if "ultralytics" in sys.modules:
        return sys.modules["ultralytics"] is not None
    return importlib.util.find_spec("ultralytics") is not None


@contextlib.contextmanager
def offline_ultralytics(config_dir: Path, verbose: bool = False) -> Iterator[Any]:
    """Import ultralytics with every network path switched off, and undo its global side effects.

    - ``YOLO_OFFLINE=1`` (ultralytics then treats the machine as offline: no pip-update check, no
      analytics), ``YOLO_CONFIG_DIR`` inside the run folder (settings file, fonts), settings
      ``sync: false``; an ``ULTRALYTICS_API_KEY`` is hidden while training (no Platform uploads).
    - ultralytics downloads ``Arial.ttf`` when its dataset check cannot find it, even with plots off:
      a copy of matplotlib's DejaVuSans is put there first (plots are off, so it is never drawn).
    - ultralytics seeds the global RNGs, turns on ``torch.use_deterministic_algorithms`` and resets
      torch's thread count; all three are restored on exit, and it keeps the caller's thread count.

    The environment variables take effect at the first import in a process; later calls reuse it.

    Yields:
        the ``ultralytics`` module.

    Raises:
        ConfigError: ultralytics is not installed.
    """
    import torch

    if not ultralytics_available():
        raise ConfigError(MISSING_ULTRALYTICS)
    if "ultralytics" not in sys.modules:
        config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir.resolve())
        os.environ["YOLO_VERBOSE"] = str(bool(verbose))
    try:
        import ultralytics
        from ultralytics.utils import SETTINGS, USER_CONFIG_DIR
    except ImportError:
        raise ConfigError(MISSING_ULTRALYTICS) from None
    import ultralytics.utils.events as events
    import ultralytics.utils.torch_utils as torch_utils

    SETTINGS.update({"sync": False})
    events.events.enabled = False
    font = Path(USER_CONFIG_DIR) / "Arial.ttf"
    if not font.is_file():
        import matplotlib

        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
    threads = torch.get_num_threads()
    torch_utils.NUM_THREADS = threads  # ultralytics would reset torch to min(8, cores - 1) threads
    deterministic = torch.are_deterministic_algorithms_enabled()
    api_key = os.environ.pop("ULTRALYTICS_API_KEY", None)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            yield ultralytics
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        if api_key is not None:
            os.environ["ULTRALYTICS_API_KEY"] = api_key


# --------------------------------------------------------------------------- the backend
