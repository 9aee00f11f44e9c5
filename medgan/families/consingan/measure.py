"""Stages and generator parameters of ConSinGAN at given settings on given cases, for
``docs/consingan.md`` (no training; nothing is timed).

Usage: ``python -m medgan.families.consingan.measure [--set key=value ...] CASE_OR_DATASET[:ID] ...``;
``shape=C,X,Y[,Z]`` in place of a case measures an unlabelled blank image of that shape (e.g. the
paper's RGB images: ``shape=3,250,250``).
"""

from __future__ import annotations

import argparse
import sys

import yaml


def measure(target: str, overrides: list[str]) -> dict[str, object]:
    """The resolved pyramid and parameter counts of the default config (plus ``overrides``) on one case."""
    from medgan.config import config_to_dict
    from medgan.families.consingan.config import ConSinGANConfig
    from medgan.families.consingan.data import read_case, resolve
    from medgan.families.consingan.model import count_parameters
    from medgan.families.consingan.step import build_networks
    from medgan.training.spec import merge_settings

    settings = config_to_dict(ConSinGANConfig())
    for item in overrides:
        key, value = item.split("=", 1)
        node: dict = {}
        leaf = node
        parts = key.split(".")
        for part in parts[:-1]:
            leaf = leaf.setdefault(part, {})
        leaf[parts[-1]] = yaml.safe_load(value)
        settings = merge_settings(settings, node)
    from medgan.config import load_config

    config = load_config(settings, ConSinGANConfig, where="--set")
    if target.startswith("shape="):
        import numpy as np

        shape = [int(v) for v in target[6:].split(",")]
        case = {"image": np.zeros(shape, np.float32), "id": target, "meta": {"affine": np.eye(4)}}
        path = "blank"
    else:
        path, _, case_id = target.partition(":")
        config.data.path, config.data.case = path, case_id
        case = read_case(config)
    resolve(config, case)
    nets = build_networks(config)
    return {"case": f"{path}:{config.data.case_id}", "shape": config.data.data_shape,
            "channels": config.model.channels, "stages": len(config.model.scales),
            "scales": ["x".join(map(str, s)) for s in config.model.scales],
            "generator_parameters": count_parameters(nets["G"]), "critic_parameters": count_parameters(nets["D"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="an image file, a dataset folder with :CASE_ID, or shape=C,X,Y[,Z]")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = parser.parse_args(argv)
    for target in args.cases:
        print(measure(target, args.set))
    return 0


if __name__ == "__main__":
    sys.exit(main())
