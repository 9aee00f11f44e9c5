"""Long fault-injection runs (the fast versions are in tests/).

    python scripts/fault_injection.py --kills 20 --races 5 --headers 2000 [--cases 6] [--shape 48 48 40]
    python scripts/fault_injection.py kill-train --family all [--kills 3] [--trials 2] [--steps 12]
    python scripts/fault_injection.py kill-benchmark [--kills 3] [--trials 2]

- kills: ``medgan augment`` killed with SIGKILL at a uniformly random time within the writing window
  of an uninterrupted run (odd trials: the first moment after that time at which an atomic write is
  in progress, so that the kill leaves temporary files behind), then resumed with the same command;
  the output must equal the uninterrupted run byte for byte, the input must keep its SHA-256, and no
  temporary file may remain.
- races: two ``medgan augment`` with different seeds into one folder at once; exactly one must
  finish, the other must be refused with one line, and the output must equal the winner's alone.
- headers: random header perturbations (hypothesis, not derandomized) of a small NIfTI read by
  ``medgan.io.read_image``: read as nibabel reads it with a consistent geometry, or refused in one line.

- kill-train: ``medgan train FAMILY`` (tiny runs of every built-in family, ``tests/family_runs.py``,
  checkpointing every 3 steps) killed with SIGKILL ``--kills`` times at random logged steps (half of
  them at the next checkpoint write), each time rerun with ``--resume`` in a fresh interpreter, then
  run to the end; every checkpoint, ``stats.jsonl`` (without timings), the sample grids and
  ``config.yaml`` must equal an uninterrupted run's bit for bit.
- kill-benchmark: ``medgan benchmark`` on the ``--quick`` form of ``lesion_2d_frid_adar.yaml`` with
  two seeds (6 cells, 2 GAN stages) killed the same way at random numbers of finished cells, rerun,
  then run to the end; every cell's per-case metrics and validation log, ``results.csv``, the split
  and every synthetic case must equal an uninterrupted run's.

Prints one line per trial and a summary (kill-train/kill-benchmark: a table); exits 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import random_label, save_nifti, tree_digest  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
AUGMENT = [sys.executable, "-m", "medgan", "augment"]


def make_dataset(root: Path, cases: int, shape: tuple[int, int, int]) -> Path:
    """``images/`` (two modalities, int16) + ``labels/`` (uint8, values 0-3) of the given shape."""
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(cases):
        for modality in ("t1", "t2"):
            save_nifti(root / "images" / f"case{i:02d}_{modality}.nii.gz",
                       rng.normal(300, 60, shape).astype(np.int16))
        label = np.zeros(shape, np.uint8)
        small = random_label(rng)
        label[: small.shape[0], : small.shape[1], : small.shape[2]] = small
        label[tuple(slice(n // 3, n // 2) for n in shape)] = 2
        save_nifti(root / "labels" / f"case{i:02d}.nii.gz", label)
    return root


def _output(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(root).items() if not k.endswith("lock.guard")}


def _run(src: Path, out: Path, seed: int, copies: int) -> subprocess.CompletedProcess:
    return subprocess.run([*AUGMENT, str(src), str(out), "--copies", str(copies), "--seed", str(seed),
                           "--no-progress"], capture_output=True, text=True, env=ENV, timeout=1800)


def _start(src: Path, out: Path, seed: int, copies: int) -> subprocess.Popen:
    return subprocess.Popen([*AUGMENT, str(src), str(out), "--copies", str(copies), "--seed", str(seed),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)


def _wait_for(process: subprocess.Popen, path: Path) -> float:
    """Poll until ``path`` exists (or the process ends); the time it appeared."""
    while not path.exists() and process.poll() is None:
        time.sleep(0.001)
    return time.perf_counter()


def _temporary(out: Path) -> bool:
    """True when a temporary file of an atomic write exists in the output's image or label folder."""
    for folder in (out / "images", out / "labels"):
        try:
            if any(entry.name.endswith(".tmp") for entry in os.scandir(folder)):
                return True
        except FileNotFoundError:
            pass
    return False


def kills(work: Path, src: Path, n: int, copies: int, rng: random.Random) -> list[bool]:
    """Kill at random times within the writing window of an uninterrupted run, then resume."""
    reference = work / "reference"
    process = _start(src, reference, 5, copies)
    started = _wait_for(process, reference / ".medgan" / "lock")
    window = _wait_for(process, reference / "manifest.csv") - started
    if process.wait() != 0:
        raise SystemExit("the uninterrupted reference run failed")
    total = len(list((reference / ".medgan" / "records").glob("*.json")))
    print(f"reference: {total} copies written in {window:.2f} s after the lock was taken", flush=True)
    results = []
    for trial in range(n):
        out = work / f"kill{trial}"
        mid_write = trial % 2 == 1  # odd trials: the moment a temporary file is seen, after a random delay
        delay = rng.uniform(0, window * (0.8 if mid_write else 1.0))
        before = tree_digest(src)
        process = _start(src, out, 5, copies)
        _wait_for(process, out / ".medgan" / "lock")
        time.sleep(delay)
        if mid_write:
            while process.poll() is None and not _temporary(out):
                time.sleep(0.0005)
        killed = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait()
        done = len(list((out / ".medgan" / "records").glob("*.json")))
        debris = len([p for p in out.rglob("*") if p.name.endswith(".tmp")])
        resumed = _run(src, out, 5, copies)
        same = resumed.returncode == 0 and _output(out) == _output(reference)
        clean = not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
        ok = same and clean and tree_digest(src) == before
        when = f"first write after {delay:5.2f} s" if mid_write else f"at {delay:5.2f} s"
        print(f"kill {trial:2d}: {when}, killed={killed}, {done:3d}/{total} copies recorded, "
              f"temporary files left by the kill={debris}, resume identical={same}, clean={clean}: "
              f"{'ok' if ok else 'FAILED'}", flush=True)
        results.append(ok)
        shutil.rmtree(out, ignore_errors=True)
    return results


def races(work: Path, src: Path, n: int, copies: int) -> list[bool]:
    results = []
    for trial in range(n):
        out = work / f"race{trial}"
        before = tree_digest(src)
        procs = {seed: subprocess.Popen([*AUGMENT, str(src), str(out), "--copies", str(copies), "--seed", str(seed),
                                         "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=ENV) for seed in (1, 2)}
        outcome = {seed: (p.wait(), p.stderr.read().strip()) for seed, p in procs.items()}
        winners = [seed for seed, (status, _) in outcome.items() if status == 0]
        ok = len(winners) == 1
        if ok:
            loser = 3 - winners[0]
            status, err = outcome[loser]
            ok = status == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
            reference = work / f"race-reference{winners[0]}"
            if not reference.exists():
                _run(src, reference, winners[0], copies).check_returncode()
            ok = ok and _output(out) == _output(reference) and tree_digest(src) == before
        print(f"race {trial:2d}: winners={winners}, refused: {outcome.get(3 - winners[0], (0, ''))[1][:90]!r}: "
              f"{'ok' if ok else 'FAILED'}" if winners else f"race {trial:2d}: {outcome}: FAILED", flush=True)
        results.append(ok)
        shutil.rmtree(out, ignore_errors=True)
    return results


def headers(work: Path, n: int) -> list[bool]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.test_io_hostile_headers import _base, _write, apply, check_read, mutations

    counts = {"read": 0, "refused": 0}
    failures: list[str] = []

    @settings(max_examples=n, deadline=None, derandomize=False, database=None,
              suppress_health_check=list(HealthCheck))
    @given(edits=mutations(), which=st.sampled_from(["image", "label"]), suffix=st.sampled_from([".nii", ".nii.gz"]))
    def trial(edits: list, which: str, suffix: str) -> None:
        from medgan.errors import DataError
        from medgan.io import read_image

        path = work / f"hostile{suffix}"
        _write(path, apply(_base()[which], edits))
        try:
            check_read(path)
        except AssertionError as error:
            failures.append(f"{edits} {which} {suffix}: {error}")
            raise
        try:
            read_image(path)
            counts["read"] += 1
        except DataError:
            counts["refused"] += 1

    try:
        trial()
        ok = True
    except Exception as error:  # hypothesis re-raises the shrunk failure
        print(f"headers: FAILED: {type(error).__name__}: {error}", flush=True)
        ok = False
    print(f"headers: {n} perturbed files, {counts['read']} read, {counts['refused']} refused in one line, "
          f"{len(failures)} failures: {'ok' if ok else 'FAILED'}", flush=True)
    return [ok]


def _python_medgan(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "medgan", *command], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _run_to_end(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "medgan", *command], env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"medgan {' '.join(command)} failed: {done.stderr.strip()[-400:]}")


def kill_train(work: Path, families: list[str], trials: int, kills: int, steps: int, rng: random.Random) -> list[bool]:
    """``medgan train FAMILY`` killed ``kills`` times per trial, resumed, compared with an uninterrupted run."""
    from tests.family_runs import recipe
    from tests.kill_resume import kill_at_random, logged_steps, newest_checkpoint, training_differences

    results, rows = [], []
    for family in families:
        args = [*recipe(family, work / family), "--steps", str(steps)]
        reference = work / family / "reference"
        _run_to_end(["train", family, *args, "--out", str(reference)])
        n_kills, n_mid, points, same = 0, 0, [], True
        for trial in range(trials):
            run = work / family / f"run{trial}"
            command = ["train", family, *args, "--out", str(run), "--resume"]
            outcome = kill_at_random(functools.partial(_python_medgan, command), run, logged_steps, steps, kills, rng,
                                     resumes_from=newest_checkpoint)
            _run_to_end(command)
            problems = training_differences(reference, run)
            n_kills += len(outcome.kills)
            n_mid += sum(mid for _, mid in outcome.kills)
            points += [str(step) for step, _ in outcome.kills]
            print(f"{family} trial {trial}: killed at steps {[s for s, _ in outcome.kills]} (mid-write "
                  f"{[m for _, m in outcome.kills]}), {outcome.finished_early} ended before the kill; "
                  f"{'identical' if not problems else 'DIFFERENT: ' + '; '.join(problems[:3])}", flush=True)
            same = same and not problems
            results.append(not problems)
            shutil.rmtree(run, ignore_errors=True)
        rows.append((family, trials, n_kills, n_mid, ",".join(points), same))
    _print_table(rows, f"logged steps (of {steps})")
    return results


def kill_benchmark(work: Path, trials: int, kills: int, rng: random.Random) -> list[bool]:
    """``medgan benchmark --quick`` killed ``kills`` times per trial mid-grid, rerun, compared."""
    from tests.kill_resume import benchmark_differences, finished_cells, kill_at_random

    source = (REPO / "pipelines" / "lesion_2d_frid_adar.yaml").read_text()
    pipeline = work / "pipeline.yaml"
    text = source.replace("../sample_data/lesions2d", str(REPO / "sample_data" / "lesions2d"))
    text = text.replace("ratios: [1.0], seeds: [0], folds: [0]}", "ratios: [1.0], seeds: [0, 1], folds: [0]}")
    if "seeds: [0, 1]" not in text:
        raise SystemExit("lesion_2d_frid_adar.yaml's quick grid changed; update kill_benchmark")
    pipeline.write_text(text)
    reference = work / "reference"
    _run_to_end(["benchmark", str(pipeline), "--quick", "--out", str(reference)])
    total = finished_cells(reference)
    results, n_kills, n_mid, points, same = [], 0, 0, [], True
    for trial in range(trials):
        out = work / f"run{trial}"
        command = ["benchmark", str(pipeline), "--quick", "--out", str(out)]
        outcome = kill_at_random(functools.partial(_python_medgan, command), out, finished_cells, total, kills, rng)
        _run_to_end(command)
        problems = benchmark_differences(reference, out)
        n_kills += len(outcome.kills)
        n_mid += sum(mid for _, mid in outcome.kills)
        points += [str(cells) for cells, _ in outcome.kills]
        print(f"benchmark trial {trial}: killed after {[c for c, _ in outcome.kills]} of {total} cells (mid-write "
              f"{[m for _, m in outcome.kills]}), {outcome.finished_early} ended before the kill; "
              f"{'identical' if not problems else 'DIFFERENT: ' + '; '.join(problems[:3])}", flush=True)
        same = same and not problems
        results.append(not problems)
        shutil.rmtree(out, ignore_errors=True)
    _print_table([("benchmark (lesion_2d_frid_adar --quick, 2 seeds)", trials, n_kills, n_mid, ",".join(points), same)],
                 f"finished cells (of {total})")
    return results


def _print_table(rows: list[tuple[str, int, int, int, str, bool]], unit: str) -> None:
    print(f"\n| run | trials | kills (mid-write) | {unit} at the kills | identical after resume |")
    print("|---|---|---|---|---|")
    for name, trials, kills, mid, points, same in rows:
        print(f"| {name} | {trials} | {kills} ({mid}) | {points} | {'yes' if same else 'NO'} |")


def kill_main(argv: list[str]) -> int:
    """``kill-train`` and ``kill-benchmark``."""
    from tests.family_runs import RECIPES

    parser = argparse.ArgumentParser(prog="fault_injection.py " + argv[0])
    if argv[0] == "kill-train":
        parser.add_argument("--family", default="all", help=f"all, or one of {', '.join(RECIPES)}")
        parser.add_argument("--steps", type=int, default=12, help="training steps (default 12)")
    parser.add_argument("--trials", type=int, default=2, help="killed runs per family (default 2)")
    parser.add_argument("--kills", type=int, default=3, help="kills per trial (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points (default 0)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary folder, removed)")
    args = parser.parse_args(argv[1:])
    work = args.work or Path(tempfile.mkdtemp(prefix="medgan-kills-"))
    work.mkdir(parents=True, exist_ok=True)
    started, rng = time.perf_counter(), random.Random(args.seed)
    try:
        if argv[0] == "kill-train":
            families = list(RECIPES) if args.family == "all" else [args.family]
            results = kill_train(work, families, args.trials, args.kills, args.steps, rng)
        else:
            results = kill_benchmark(work, args.trials, args.kills, rng)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed}/{len(results)} trials identical in {(time.perf_counter() - started) / 60:.1f} min")
    return 1 if failed else 0


def main() -> int:
    if sys.argv[1:2] in (["kill-train"], ["kill-benchmark"]):
        return kill_main(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="kill -9 trials (default 20)")
    parser.add_argument("--races", type=int, default=5, help="two-writer trials (default 5)")
    parser.add_argument("--headers", type=int, default=2000, help="perturbed headers (default 2000)")
    parser.add_argument("--cases", type=int, default=6, help="cases in the test dataset (default 6)")
    parser.add_argument("--shape", type=int, nargs=3, default=[48, 48, 40], help="volume shape (default 48 48 40)")
    parser.add_argument("--copies", type=int, default=3, help="augmented copies per case (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points (default 0)")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary folder, removed)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="medgan-faults-"))
    started = time.perf_counter()
    try:
        src = make_dataset(work / "src", args.cases, tuple(args.shape))
        results = kills(work, src, args.kills, args.copies, random.Random(args.seed))
        results += races(work, src, args.races, args.copies)
        results += headers(work, args.headers) if args.headers else []
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    failed = results.count(False)
    print(f"{len(results) - failed}/{len(results)} trials ok in {(time.perf_counter() - started) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
