"""Dataset layouts as objects that both read and write, registered by name.

Built in: ``folder``, ``msd`` (Medical Segmentation Decathlon), ``nnunet`` (nnU-Net v2 raw),
``brats``. A new layout is a :class:`DatasetLayout` subclass decorated with :func:`register`;
``--format`` and :func:`medgan.io.load_dataset` then accept its name.
"""

from medgan.io.layouts.base import CaseRef, DatasetLayout, Found, Naming
from medgan.io.layouts.registry import (
    DATASET_LAYOUTS,
    add_format_option,
    detect,
    format_choices,
    get_layout,
    layout_names,
    register,
)

# the built-in layouts register themselves on import
from medgan.io.layouts import folder, msd, nnunet, brats  # noqa: E402,F401,I001  isort: skip

__all__ = ["DATASET_LAYOUTS", "CaseRef", "DatasetLayout", "Found", "Naming", "add_format_option", "detect",
           "format_choices", "get_layout", "layout_names", "register"]
