"""Run folders: safe checkpoint loading, clear errors for bad files, one owner per folder, honest resumes."""

import os
import pickle
import subprocess
import sys

import pytest
import torch
import yaml

from sot_utils.training.checkpoint import (
    CheckpointError,
    RunLock,
    RunLockedError,
    atomic_save,
    checkpoint_step,
    load_checkpoint,
    load_model,
)
from sot_utils.training.config import resolve_config
from sot_utils.training.train import train


def run_config(tiny_data, out_dir, **overrides):
    values = dict(steps=2, batch_size=8, validate_every=2, keep_best_every=0, data=str(tiny_data), out_dir=str(out_dir))
    return resolve_config("MSS-Lin", 3, **(values | overrides))


class _Payload:
    """Unpickling this runs code: it would create the file named in ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_checkpoint_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "step": 1, "payload": _Payload(str(marker))}, path)
    for load in (load_checkpoint, load_model, checkpoint_step):
        with pytest.raises(CheckpointError, match="evil.pt.*could run code"):
            load(path)
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(_Payload(str(marker)))) and marker.exists()  # the payload is real


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    return train(run_config(tiny_data, tmp_path_factory.mktemp("run") / "run"), progress=False)


def test_truncated_foreign_and_incomplete_files_get_one_line_errors_naming_them(trained, tmp_path):
    good = (trained / "best.pt").read_bytes()
    cases = {
        "truncated.pt": good[: len(good) // 2],
        "empty.pt": b"",
        "text.pt": b"not a checkpoint at all\n",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=name) as error:
            load_model(tmp_path / name)
        assert "\n" not in str(error.value)
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save({"model": {}, "step": 1}, tmp_path / "no_config.pt")
    torch.save({"model": {}, "step": 1, "config": "SOT-2048"}, tmp_path / "string_config.pt")
    torch.save(
        {"model": {"x": torch.zeros(1)}, "step": 1, "config": {"group": "MSS-Lin", "seed": 1}},
        tmp_path / "wrong_weights.pt",
    )
    for name, message in (
        ("tensor.pt", "holds a Tensor"),
        ("no_config.pt", "lacks \\['config'\\]"),
        ("string_config.pt", "config is not valid"),
        ("wrong_weights.pt", "do not fit the architecture"),
    ):
        with pytest.raises(CheckpointError, match=message):
            load_model(tmp_path / name)
    with pytest.raises(CheckpointError, match="is a folder"):
        load_model(trained)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(trained / "best.pt", kind="last")


def test_a_checkpoint_loads_into_the_architecture_its_config_names(tiny_data, tmp_path, one_torch_thread):
    out = train(run_config(tiny_data, tmp_path / "eight", model={"n_harmonics": 8, "roll_off": True}), progress=False)
    model, config = load_model(out / "best.pt")
    assert model.encoder.n_harmonics == 8 and model.roll_off is not None and config.model.n_harmonics == 8


def test_atomic_save_leaves_the_old_file_when_a_write_fails(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"a": 1}, path)
    with pytest.raises((AttributeError, pickle.PicklingError)):
        atomic_save({"a": lambda: None}, path)  # not picklable: fails mid-write
    assert torch.load(path, weights_only=True) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pt"]


def test_a_run_folder_has_one_owner_and_stale_locks_are_taken_over(tiny_data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with RunLock(out):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            train(run_config(tiny_data, out), progress=False)
    assert not (out / ".lock").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / ".lock").write_text(f"{os.uname().nodename} {int(dead.stdout)}\n")  # its process has ended
    assert train(run_config(tiny_data, out), progress=False) == out
    assert not (out / ".lock").exists()


def test_two_processes_on_one_folder_cannot_both_train(tiny_data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(f"{os.uname().nodename} {os.getppid()}\n")  # a live process (this one's parent)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"steps": 2, "batch_size": 8, "validate_every": 2, "data": str(tiny_data)}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sot_utils.training.train",
            "--group",
            "MSS-Lin",
            "--seed",
            "3",
            "--config",
            str(overlay),
            "--out-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        result.returncode == 1 and "is being trained by process" in result.stderr and "Traceback" not in result.stderr
    )
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_resuming_with_another_config_is_refused_unless_allowed(tiny_data, tmp_path, one_torch_thread):
    out = train(run_config(tiny_data, tmp_path / "run"), progress=False)
    for change, listed in (
        (dict(learning_rate=1e-3), "learning_rate: 0.0001 -> 0.001"),
        (dict(batch_size=4), "batch_size: 8 -> 4"),
        (dict(model={"f0_head_init": "zero"}), "model.f0_head_init"),
    ):
        with pytest.raises(ValueError, match=listed):
            train(run_config(tiny_data, out, steps=4, **change), progress=False)
    assert load_checkpoint(out / "last.pt", kind="last")["step"] == 2
    train(run_config(tiny_data, out, steps=4, micro_batch_size=2), progress=False)  # allowed: the same gradient
    train(run_config(tiny_data, out, steps=6, learning_rate=1e-3), progress=False, allow_config_change=True)
    last = load_checkpoint(out / "last.pt", kind="last")
    assert last["step"] == 6 and last["config"].learning_rate == 1e-3
    assert [group["lr"] for group in last["optimizer"]["param_groups"]] == [1e-3]  # the recorded rate was used
    assert yaml.safe_load((out / "config.yaml").read_text())["learning_rate"] == 1e-3


def test_a_run_that_cannot_start_leaves_no_folder_behind(tiny_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        train(run_config(tmp_path / "missing.pt", tmp_path / "new"), progress=False)
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        train(run_config(tiny_data, tmp_path / "file" / "run"), progress=False)
    with pytest.raises(CheckpointError, match="last.pt"):
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / "last.pt").write_bytes(b"PK\x03\x04 truncated")
        train(run_config(tiny_data, tmp_path / "broken"), progress=False)


# --------------------------------------------------------------------------------------------
# Messages that say what is wrong (reliability cases)


def _stored(trained) -> dict:
    return torch.load(trained / "best.pt", weights_only=True)


def test_a_checkpoint_with_nan_weights_is_refused_naming_the_weights_not_the_audio(trained, tmp_path):
    contents = _stored(trained)
    name = next(k for k, v in contents["model"].items() if v.is_floating_point())
    contents["model"][name] = torch.full_like(contents["model"][name], float("nan"))
    torch.save(contents, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=f"nan.pt: its weights hold NaN or infinite values \\({name}"):
        load_model(tmp_path / "nan.pt")


def test_missing_unexpected_and_misshapen_weights_are_named(trained, tmp_path):
    contents = _stored(trained)
    missing = sorted(contents["model"])[0]
    del contents["model"][missing]
    contents["model"]["encoder.extra.weight"] = torch.zeros(2)
    torch.save(contents, tmp_path / "keys.pt")
    with pytest.raises(CheckpointError, match=f"missing {missing}; unexpected encoder.extra.weight"):
        load_model(tmp_path / "keys.pt")
    contents = _stored(trained)
    name = next(k for k, v in contents["model"].items() if v.ndim >= 1)
    contents["model"][name] = torch.zeros(7, 1)
    torch.save(contents, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=f"wrong shape: {name} \\(7, 1\\)"):
        load_model(tmp_path / "shape.pt")


def test_a_checkpoint_whose_group_is_unknown_is_named(trained, tmp_path):
    contents = _stored(trained)
    contents["config"] = {"group": "SOT-4096", "seed": 1}  # the flat layout of older checkpoints
    torch.save(contents, tmp_path / "group.pt")
    with pytest.raises(CheckpointError, match="group.pt: its config is not valid: `group` must be one of .*SOT-4096"):
        load_model(tmp_path / "group.pt")


def test_a_device_as_checkpoint_is_refused_as_not_a_file_without_reading_it():
    with pytest.raises(CheckpointError, match="/dev/zero is not a regular file"):
        load_model("/dev/zero")


def test_damaged_pickle_data_is_not_called_malicious(trained, tmp_path):
    import io
    import zipfile

    source = zipfile.ZipFile(trained / "best.pt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as damaged:
        for item in source.infolist():
            data = source.read(item)
            damaged.writestr(item, data[:10] if item.filename.endswith("data.pkl") else data)
    (tmp_path / "damaged.pt").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="damaged.pt") as error:
        load_model(tmp_path / "damaged.pt")
    assert "could run code" not in str(error.value) and "weights_only=False" not in str(error.value)


def test_a_full_disk_or_file_size_limit_during_a_save_says_so(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: torch's own writer reported
    "[enforce fail at inline_container.cc] unexpected pos"; the message must say what happened."""
    script = (
        "import resource, sys, torch\n"
        "from sot_utils.training.checkpoint import atomic_save\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    atomic_save({'w': torch.zeros(100_000)}, sys.argv[1])\n"
        "except OSError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.pt")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"could not write {tmp_path / 'x.pt'}: File too large" in out.stdout, out.stdout
    assert not list(tmp_path.iterdir())  # no partial file left
