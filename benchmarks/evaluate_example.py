"""The ``medgan evaluate`` example of docs/evaluation.md: real slices standing in for synthetic ones.

``sample_data/lesions2d``'s 96 slices are dealt round-robin, in groups of three consecutive slices
(one of each class), to ``train``, ``real`` and ``synthetic`` (33/33/30 slices), so the "generator"
is perfect and every number is what an ideal generator would get. Then ``medgan evaluate`` runs
with seed 0 and the "Mode coverage" section of its report is printed. Deterministic: a rerun prints
the same numbers.

Example:
    PYTHONPATH=. python benchmarks/evaluate_example.py --out /tmp/evaluate-example
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from medgan.cli import main as medgan


def deal(source: Path, out: Path) -> dict[str, Path]:
    """Copy the slices of ``source`` (a folder dataset) into ``out/{train,real,synthetic}``."""
    names = sorted(p.name for p in (source / "images").glob("*.nii.gz"))
    folders = {k: out / k for k in ("train", "real", "synthetic")}
    for index, name in enumerate(names):
        target = folders[("train", "real", "synthetic")[(index // 3) % 3]]
        for sub in ("images", "labels"):
            (target / sub).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / sub / name, target / sub / name)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("sample_data/lesions2d"))
    parser.add_argument("--out", type=Path, required=True, help="an empty or missing folder")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    folders = deal(args.data, args.out / "split")
    print(", ".join(f"{k}: {len(list((v / 'images').glob('*.nii.gz')))}" for k, v in folders.items()))
    status = medgan(["evaluate", "--real", str(folders["real"]), "--synthetic", str(folders["synthetic"]),
                     "--train", str(folders["train"]), "--out", str(args.out / "eval"), "--seed", "0"])
    report = (args.out / "eval" / "report.md").read_text()
    start = report.find("## Mode coverage")
    end = report.find("\n## ", start + 1)
    print(report[start:end if end > 0 else None].strip())
    return status


if __name__ == "__main__":
    raise SystemExit(main())
