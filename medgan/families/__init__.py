"""GAN families: each module or package here registers one entry in
:data:`medgan.registry.GAN_FAMILIES` when imported. Adding a family means adding a module here; the
``train`` and ``synthesize`` commands find it through :func:`discover` without being edited.
Registration modules import no torch (heavy code is imported inside their functions).
"""

from __future__ import annotations

import importlib
import pkgutil


def discover() -> list[str]:
    """Import every family module in this package; return the registered family names."""
    from medgan.registry import GAN_FAMILIES

    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return GAN_FAMILIES.names()
