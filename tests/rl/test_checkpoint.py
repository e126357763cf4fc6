"""Checkpoints hold plain data and are read without unpickling objects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loadwise.errors import ConfigError
from loadwise.rl import checkpoint

RAN: list[str] = []


def _record_run() -> str:
    RAN.append("ran")
    return "ran"


class Payload:
    """Unpickling this object calls `_record_run`: a stand-in for code in a hostile file."""

    def __reduce__(self):
        return (_record_run, ())


def test_numpy_values_are_saved_as_plain_numbers_and_read_back(tmp_path):
    state = {"multipliers": {"values": np.array([0.5, 1.25])}, "history": [{"loss": np.float32(0.5)}],
             "betas": (0.9, 0.999), "weights": torch.arange(3.0)}
    checkpoint.save(tmp_path, 2, state)
    loaded = checkpoint.load(tmp_path)
    assert loaded["epochs_done"] == 2
    assert loaded["multipliers"]["values"] == [0.5, 1.25]
    assert type(loaded["history"][0]["loss"]) is float and loaded["betas"] == (0.9, 0.999)
    assert torch.equal(loaded["weights"], torch.arange(3.0))
    assert (tmp_path / "epoch-0002.pt").is_file()


def test_an_object_that_is_not_plain_data_is_not_saved(tmp_path):
    with pytest.raises(TypeError, match="not Payload"):
        checkpoint.save(tmp_path, 1, {"policy": Payload()})
    assert not (tmp_path / checkpoint.LATEST).exists()


def test_a_checkpoint_holding_a_pickled_object_is_refused_without_running_it(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"epochs_done": 1, "multipliers": Payload()}, path)
    with pytest.raises(ConfigError, match=r"holds an object \(\S*_record_run\), not only tensors, numbers, strings, lists and dicts") as info:
        checkpoint.load(path)
    assert info.value.field == str(path)
    assert RAN == []


@pytest.mark.parametrize("content", [b"not a checkpoint", b""])
def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not a loadwise router checkpoint"):
        checkpoint.load(path)
