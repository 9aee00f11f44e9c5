"""Damaged checkpoints give one line naming the file and the problem, never a traceback: corrupt,
oversized or truncated safetensors headers, tensors renamed, missing or of another shape or dtype,
keys without '/', state.json cut short or pointing at a missing tensor, NaN/Inf weights. A stats.jsonl
whose last line was cut short does not stop a resume."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import tests.toy_family  # noqa: F401  (registers "toy-cycle")
from medgan.errors import DataError
from medgan.training.checkpoint import list_checkpoints, restore_networks
from medgan.training.loop import Trainer
from tests.toy_family import ToyConfig, ToyCycleStep, _net


def build() -> ToyCycleStep:
    torch.manual_seed(0)
    return ToyCycleStep(ToyConfig(), 0, 1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("damage") / "run"
    Trainer(build(), run, "toy-cycle").fit(3)
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def checkpoint_of(run: Path) -> Path:
    (checkpoint,) = list_checkpoints(run / "checkpoints")
    return checkpoint


def edit_tensors(path: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


def rename(tensors, old, new):
    tensors[new] = tensors.pop(old)


def set_value(tensors, key, value):
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = value


def tensors(change: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path], None]:
    return lambda path: edit_tensors(path, change)


def raw(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(change(path.read_bytes()))


NETWORKS, STATE, STATE_JSON = "networks.safetensors", "state.safetensors", "state.json"
CASES = {
    "corrupt header": (NETWORKS, lambda p: raw(p, lambda b: b[:8] + b"{not json" + b[17:]),
                       "not a readable safetensors file (Error while deserializing header: invalid JSON"),
    "oversized header": (NETWORKS, lambda p: raw(p, lambda b: struct.pack("<Q", 2**40) + b[8:]),
                         "not a readable safetensors file (Error while deserializing header: header too large"),
    "truncated file": (NETWORKS, lambda p: raw(p, lambda b: b[:-100]), "not a readable safetensors file"),
    "empty file": (STATE, lambda p: raw(p, lambda b: b""), "not a readable safetensors file"),
    "tensor renamed": (NETWORKS, tensors(lambda t: rename(t, "net/G_ab/0.weight", "net/G_ab/0.wieght")),
                       "tensor net/G_ab/0.weight is missing (it holds net/G_ab/0.wieght instead)"),
    "tensor missing": (NETWORKS, tensors(lambda t: t.pop("ema/G_ab/4.bias")),
                       "tensor ema/G_ab/4.bias is missing"),
    "extra tensor": (NETWORKS, tensors(lambda t: t.update({"net/D_a/9.weight": torch.ones(2)})),
                     "unexpected tensor net/D_a/9.weight"),
    "key without slash": (NETWORKS, tensors(lambda t: rename(t, "net/G_ab/0.weight", "G_ab.weight")),
                          "tensor key 'G_ab.weight' is not net/<network>/<tensor>"),
    "unknown network": (NETWORKS, tensors(lambda t: rename(t, "net/D_b/0.bias", "net/D_c/0.bias")),
                        "holds network 'net/D_c', which this run does not build"),
    "shape swapped": (NETWORKS, tensors(lambda t: t.update({"net/D_a/0.weight": t["net/D_a/0.weight"].movedim(0, 1)})),
                      "tensor net/D_a/0.weight has shape (1, 4, 3, 3), the network the config builds needs "
                      "(4, 1, 3, 3)"),
    "dtype changed": (NETWORKS, tensors(lambda t: t.update({"net/G_ba/0.bias": t["net/G_ba/0.bias"].double()})),
                      "tensor net/G_ba/0.bias is float64, the network needs float32"),
    "NaN weight": (NETWORKS, tensors(lambda t: set_value(t, "net/G_ab/0.weight", float("nan"))),
                   "tensor 'net/G_ab/0.weight' holds NaN or infinite values"),
    "Inf in EMA": (NETWORKS, tensors(lambda t: set_value(t, "ema/G_ab/4.weight", float("inf"))),
                   "tensor 'ema/G_ab/4.weight' holds NaN or infinite values"),
    "NaN Adam moment": (STATE, tensors(lambda t: set_value(
        t, next(k for k in t if k.endswith("exp_avg_sq")), float("nan"))), "holds NaN or infinite values"),
    "state tensor missing": (STATE, tensors(lambda t: t.pop("state/rng/0/generator")),
                             "refers to tensor 'state/rng/0/generator', which state.safetensors does not hold",
                             STATE_JSON),
    "state.json truncated": (STATE_JSON, lambda p: raw(p, lambda b: b[:len(b) // 2]),
                             "is not valid JSON, perhaps cut short"),
    "state.json without step": (STATE_JSON, lambda p: raw(p, lambda b: b.replace(b'"step": 3', b'"step": "3"')),
                                "has no valid step number (found '3')"),
    "state entry missing": (STATE_JSON, lambda p: p.write_text(json.dumps(_drop_entry(json.loads(p.read_text()),
                                                                                     "scalers"))),
                            "training state does not fit this run (missing entry 'scalers')"),
    "networks file missing": (NETWORKS, lambda p: p.unlink(), "missing from the checkpoint"),
}


def _drop_entry(saved: dict, key: str) -> dict:
    saved["state"]["__dict__"] = [kv for kv in saved["state"]["__dict__"] if kv[0] != key]
    return saved


@pytest.mark.parametrize("case", list(CASES))
def test_resume_from_a_damaged_checkpoint_is_one_line(run, case):
    damaged, damage, message, *named = CASES[case]
    damage(checkpoint_of(run) / damaged)
    with pytest.raises(DataError) as caught:
        Trainer(build(), run, "toy-cycle", resume=True)
    text = str(caught.value)
    path = checkpoint_of(run) / (named[0] if named else damaged)  # the file the line names
    assert "\n" not in text and text.startswith(f"{path}: "), text
    assert message in text


def test_restore_networks_prefers_ema_and_validates(run):
    checkpoint = checkpoint_of(run)
    saved = load_file(str(checkpoint / NETWORKS))
    nets = {"G_ab": _net(True), "D_a": _net(False)}
    restore_networks(checkpoint, nets)
    assert torch.equal(nets["G_ab"][0].weight, saved["ema/G_ab/0.weight"])  # the EMA copy
    assert torch.equal(nets["D_a"][0].weight, saved["net/D_a/0.weight"])  # no EMA: the trained one
    assert not torch.equal(saved["ema/G_ab/0.weight"], saved["net/G_ab/0.weight"])
    restore_networks(checkpoint, {"G_ab": nets["G_ab"]}, prefer_ema=False)
    assert torch.equal(nets["G_ab"][0].weight, saved["net/G_ab/0.weight"])

    path = checkpoint / NETWORKS
    with pytest.raises(DataError, match=f"^{path}: holds no weights of network 'E'"):
        restore_networks(checkpoint, {"E": _net(True)})
    with pytest.raises(DataError, match=rf"^{path}: unexpected tensor ema/G_ab/4\."):
        restore_networks(checkpoint, {"G_ab": torch.nn.Sequential(*list(_net(True))[:4])})
    edit_tensors(path, lambda t: set_value(t, "ema/G_ab/0.bias", float("nan")))
    with pytest.raises(DataError, match=f"^{path}: tensor 'ema/G_ab/0.bias' holds NaN"):
        restore_networks(checkpoint, {"D_a": nets["D_a"]})  # the whole file is checked


def test_a_truncated_last_stats_line_does_not_stop_a_resume(run):
    stats = run / "stats.jsonl"
    text = stats.read_text()
    stats.write_text(text + text.splitlines()[-1][:17])  # what a full disk leaves
    trainer = Trainer(build(), run, "toy-cycle", resume=True)
    assert trainer.start == 3
    trainer.fit()
    steps = [json.loads(line)["step"] for line in stats.read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
