"""Training: resume gives the same parameters as an uninterrupted run; configs; batches; roll-off."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sot_utils.autoencoder import HarmonicAutoencoder, RollOffFilter, cqt_features, n_parameters
from sot_utils.losses import MultiScaleSpectralLoss
from sot_utils.training.checkpoint import load_checkpoint, on_cpu
from sot_utils.training.config import resolve_config
from sot_utils.training.loss_config import PAPER_GROUPS
from sot_utils.training.train import batch_indices, build_loss, train, train_step

REPO = Path(__file__).resolve().parents[2]


def run_config(tiny_data, out_dir, group="SOT-512", seed=7, **overrides):
    values = dict(
        steps=4,
        batch_size=8,
        validate_every=2,
        keep_best_every=0,
        shuffle=True,
        data=str(tiny_data),
        out_dir=str(out_dir),
    )
    values.update(overrides)
    return resolve_config(group, seed, **values)


def test_resume_gives_the_same_parameters_as_a_straight_run(tiny_data, tmp_path, one_torch_thread):
    straight = train(run_config(tiny_data, tmp_path / "straight", steps=4), progress=False)
    train(run_config(tiny_data, tmp_path / "resumed", steps=2), progress=False)  # "interrupted" after 2 steps
    resumed = train(run_config(tiny_data, tmp_path / "resumed", steps=4), progress=False)
    a, b = load_checkpoint(straight / "last.pt", kind="last"), load_checkpoint(resumed / "last.pt", kind="last")
    assert a["step"] == b["step"] == 4
    for name, value in a["model"].items():
        torch.testing.assert_close(b["model"][name], value, rtol=0, atol=0)
    # the logs agree row for row (the resumed one appended after the interruption)
    rows = [list(csv.DictReader(open(d / "log.csv"))) for d in (straight, resumed)]
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]] == ["2", "4"]
    assert [r["train_loss"] for r in rows[0]] == [r["train_loss"] for r in rows[1]]
    assert (straight / "best.pt").exists() and (straight / "config.yaml").exists()
    # asking a finished run for fewer steps leaves it untouched (config.yaml keeps its steps)
    train(run_config(tiny_data, tmp_path / "straight", steps=2), progress=False)
    assert yaml.safe_load((straight / "config.yaml").read_text())["steps"] == 4


def test_a_run_killed_between_log_row_and_checkpoint_resumes_with_one_row_per_step(
    tiny_data, tmp_path, one_torch_thread
):
    straight = train(run_config(tiny_data, tmp_path / "straight", steps=4), progress=False)
    killed = tmp_path / "killed"
    train(run_config(tiny_data, killed, steps=2), progress=False)
    at_step_2 = (killed / "last.pt").read_bytes()
    train(run_config(tiny_data, killed, steps=4), progress=False)
    (killed / "last.pt").write_bytes(at_step_2)  # the row of step 4 was written, last.pt was not
    train(run_config(tiny_data, killed, steps=4), progress=False)
    rows = [list(csv.DictReader(open(d / "log.csv"))) for d in (straight, killed)]
    assert [r["step"] for r in rows[1]] == ["2", "4"]
    assert [r["train_loss"] for r in rows[0]] == [r["train_loss"] for r in rows[1]]


def test_resuming_with_lost_log_rows_warns(tiny_data, tmp_path):
    out = train(run_config(tiny_data, tmp_path / "a", steps=4), progress=False)
    lines = (out / "log.csv").read_text().splitlines()
    (out / "log.csv").write_text("\n".join(lines[:1]) + "\n")  # header only: rows of steps 2 and 4 lost
    with pytest.warns(UserWarning, match="rows were lost"):
        train(run_config(tiny_data, out, steps=6), progress=False)
    assert [r["step"] for r in csv.DictReader(open(out / "log.csv"))] == ["6"]


def test_training_changes_parameters_and_dropout_depends_on_the_seed(tiny_data, tmp_path):
    out = train(run_config(tiny_data, tmp_path / "a", steps=2, validate_every=2), progress=False)
    other = train(run_config(tiny_data, tmp_path / "b", steps=2, validate_every=2, seed=8), progress=False)
    torch.manual_seed(7)
    initial = HarmonicAutoencoder().state_dict()
    trained = load_checkpoint(out / "last.pt", kind="last")["model"]
    assert any(not torch.equal(initial[k], trained[k]) for k in initial)
    assert any(
        not torch.equal(trained[k], v) for k, v in load_checkpoint(other / "last.pt", kind="last")["model"].items()
    )


def test_kept_best_checkpoints_are_the_best_up_to_their_step(tiny_data, tmp_path):
    out = train(run_config(tiny_data, tmp_path, steps=8, validate_every=2, keep_best_every=4), progress=False)
    rows = list(csv.DictReader(open(out / "log.csv")))
    for upto in (4, 8):
        kept = load_checkpoint(out / f"best-upto-{upto}.pt")
        candidates = [r for r in rows if int(r["step"]) <= upto]
        best = min(candidates, key=lambda r: float(r["val_lsd"]))
        assert kept["step"] == int(best["step"])
        assert kept["val_metrics"]["lsd"] == pytest.approx(float(best["val_lsd"]))
    assert not (out / "best-upto-2.pt").exists() and not (out / "best-upto-6.pt").exists()
    with pytest.raises(ValueError, match="keep_best_every"):
        run_config(tiny_data, tmp_path, validate_every=2, keep_best_every=3)


def test_a_checkpoint_of_another_run_is_refused(tiny_data, tmp_path):
    train(run_config(tiny_data, tmp_path, steps=2), progress=False)
    with pytest.raises(ValueError, match="another run"):
        train(run_config(tiny_data, tmp_path, steps=4, seed=99), progress=False)


def test_batches_follow_the_reference_order_and_cover_each_epoch():
    assert batch_indices(0, 2800, 64, False, 0).tolist() == list(range(64))
    assert batch_indices(43, 2800, 64, False, 0).tolist() == list(range(2752, 2800))  # the 44th batch has 48
    assert batch_indices(44, 2800, 64, False, 0).tolist() == list(range(64))  # 44 steps per epoch
    epoch = torch.cat([batch_indices(s, 100, 16, True, 3) for s in range(7)])
    assert sorted(epoch.tolist()) == list(range(100))
    assert not torch.equal(batch_indices(0, 100, 16, True, 3), batch_indices(7, 100, 16, True, 3))
    torch.testing.assert_close(batch_indices(9, 100, 16, True, 3), batch_indices(9, 100, 16, True, 3))


def test_every_loss_config_key_changes_the_loss(tmp_path):
    base = build_loss(resolve_config("SOT-512-LogF", 0))
    assert base.terms["sot"].frequency_scale == "log" and not base.terms["sot"].root and base.terms["sot"].pad_end
    for change, check in (
        ({"frequency_scale": "linear"}, lambda sot: sot.frequency_scale == "linear"),
        ({"root": True}, lambda sot: sot.root),
        ({"pad_end": False}, lambda sot: not sot.pad_end),
        ({"p": 1}, lambda sot: sot.p == 1),
        ({"mode": "balanced"}, lambda sot: sot.mode == "balanced"),
    ):
        overlay = tmp_path / "overlay.yaml"
        overlay.write_text(yaml.safe_dump({"loss": {"terms": {"sot": change}}}))
        assert check(build_loss(resolve_config("SOT-512-LogF", 0, overlays=[overlay])).terms["sot"]), change
    assert isinstance(build_loss(resolve_config("MSS-Lin", 0)), MultiScaleSpectralLoss)


def test_autoencoder_shapes_parameters_and_roll_off():
    model = HarmonicAutoencoder()
    assert n_parameters(model) == 46012  # the synthesizer (and the roll-off) have no parameters
    audio = torch.randn(2, 4096) * 0.1
    cqt = cqt_features(audio, progress=False)
    assert cqt.shape == (2, 16, 285)
    estimate, out = model(cqt)
    assert estimate.shape == (2, 4096) and out.f0_hz.shape == (2, 16) and out.amplitudes.shape == (2, 16, 20)
    assert n_parameters(HarmonicAutoencoder(roll_off=True)) == 46012
    # the roll-off: flat below 500 Hz, -6 dB per octave above (amplitude halves per octave)
    filt = RollOffFilter()
    n = torch.arange(16000, dtype=torch.float32) / 16000
    for f, gain in ((250.0, 1.0), (1000.0, 0.5), (2000.0, 0.25), (4000.0, 0.125)):
        tone = torch.sin(2 * math.pi * f * n)[None]
        out = filt(tone)[0, 2000:-2000]
        assert float(out.abs().max()) == pytest.approx(gain, rel=0.08), f


@pytest.mark.parametrize("group", PAPER_GROUPS)
def test_micro_batched_step_has_the_full_batch_gradient(group, tiny_data):
    """Oracle: plain autograd on the whole batch at once. Micro-batches of 3 (3 + 3 + 1 examples)
    weighted by their share give the same gradient for every loss group. In float64, because the
    log-magnitude terms amplify float32 rounding of near-silent bins (1e-3 relative)."""
    from sot_utils.training.train import cached_features

    audio, cqt, _ = cached_features(tiny_data, "train", progress=False)
    audio, cqt = audio[:7].double(), cqt[:7].double()
    torch.manual_seed(2)
    model = HarmonicAutoencoder(roll_off=group == "MSS-LogLin").double().eval()  # no dropout: exact comparison
    loss_fn = build_loss(resolve_config(group, 0)).double()
    expected_loss = loss_fn(audio, model(cqt)[0])
    expected_loss.backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # a step that keeps the gradients readable
    loss = train_step(model, loss_fn, optimizer, audio, cqt, micro_batch_size=3)
    assert loss == pytest.approx(float(expected_loss.detach()), rel=1e-12)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-9, atol=1e-12, msg=f"{group}: {name}")


@pytest.mark.parametrize("micro_batch_size, expected", [(None, 16), (3, 3)])
def test_micro_batch_size_reaches_the_training_step(tiny_data, tmp_path, monkeypatch, micro_batch_size, expected):
    """The config key sets the micro-batch of every step (default: 16 on CPU). (Whole trajectories
    are not compared: Adam divides each gradient element by its own magnitude, which turns
    float rounding of near-zero elements into visible parameter differences.)"""
    import sot_utils.training.train as train_module

    seen = []
    real_step = train_module.train_step

    def spy(*args, **kwargs):
        seen.append(args[-1])
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", spy)
    out = train(run_config(tiny_data, tmp_path / "run", micro_batch_size=micro_batch_size), progress=False)
    assert seen == [expected] * 4
    assert yaml.safe_load((out / "config.yaml").read_text())["micro_batch_size"] == micro_batch_size


def test_a_non_finite_loss_stops_the_step_before_the_parameters_change(tiny_data):
    from sot_utils.training.train import cached_features

    audio, cqt, _ = cached_features(tiny_data, "train", progress=False)
    torch.manual_seed(0)
    model = HarmonicAutoencoder()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with pytest.raises(FloatingPointError, match="non-finite"):
        train_step(
            model, lambda target, estimate: (target - estimate).sum() * float("nan"), optimizer, audio[:4], cqt[:4], 2
        )
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_checkpoints_hold_cpu_tensors_and_the_log_names_the_device(tiny_data, tmp_path, one_torch_thread):
    moved = on_cpu({"a": torch.ones(2), "b": [torch.zeros(1), 3], "c": "x"})
    assert moved["b"][1] == 3 and moved["c"] == "x" and all(t.device.type == "cpu" for t in (moved["a"], moved["b"][0]))
    out = train(run_config(tiny_data, tmp_path / "run", steps=2), progress=False)
    assert load_checkpoint(out / "last.pt", kind="last")["step"] == 2
    assert [row["device"] for row in csv.DictReader(open(out / "log.csv"))] == ["cpu"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_run_trained_on_cuda_resumes_on_the_cpu(tiny_data, tmp_path, one_torch_thread):
    out = train(run_config(tiny_data, tmp_path / "run", steps=2, device="cuda"), progress=False)
    saved = load_checkpoint(out / "last.pt", kind="last")
    assert all(t.device.type == "cpu" for t in saved["model"].values())
    train(run_config(tiny_data, tmp_path / "run", steps=4, device="cpu"), progress=False)
    assert [row["device"] for row in csv.DictReader(open(out / "log.csv"))] == ["cuda", "cpu"]


def test_the_harmonic_prior_enters_the_step_with_its_schedule(tiny_data, one_torch_thread):
    """``loss.harmonic_prior_weight`` adds weight x harmonic_index_prior to the loss of every
    micro-batch (the step's gradient is that of the sum); ``harmonic_prior_decay_steps`` ramps the
    weight linearly to 0."""
    from sot_utils.losses import harmonic_index_prior
    from sot_utils.training.train import prior_weight

    config = resolve_config("SOT-512", 0, loss={"harmonic_prior_weight": 0.01, "harmonic_prior_decay_steps": 100})
    assert [prior_weight(config.loss, s) for s in (0, 50, 100, 200)] == pytest.approx([0.01, 0.005, 0.0, 0.0])
    assert prior_weight(resolve_config("SOT-512", 0, loss={"harmonic_prior_weight": 0.01}).loss, 10**6) == 0.01
    audio, cqt = torch.randn(4, 4096), torch.rand(4, 16, 285)
    grads = {}
    for weight in (0.0, 0.3):
        torch.manual_seed(0)
        model = HarmonicAutoencoder().eval()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        loss_fn = build_loss(config)
        total = train_step(model, loss_fn, optimizer, audio, cqt, 2, harmonic_prior=weight)
        grads[weight] = model.encoder.amplitude_head.bias.grad.clone()
        if weight:
            estimate, out = model(cqt)
            expected = loss_fn(audio, estimate) + weight * harmonic_index_prior(out.f0_hz, out.amplitudes).mean()
            assert total == pytest.approx(float(expected.detach()), rel=1e-5)
    assert not torch.allclose(grads[0.0], grads[0.3])


def test_a_run_with_a_fundamental_floor_trains_and_reloads_with_it(tiny_data, tmp_path, one_torch_thread):
    from sot_utils.training.checkpoint import load_model

    out = train(run_config(tiny_data, tmp_path / "floor", steps=2, model={"fundamental_floor": 0.3}), progress=False)
    model, config = load_model(out / "last.pt")
    assert config.model.fundamental_floor == 0.3 == model.encoder.fundamental_floor
    amplitudes = model.eval().encoder(torch.rand(2, 16, model.encoder.n_bins)).amplitudes
    assert (amplitudes[..., 0] >= 0.3 * amplitudes.amax(dim=-1)).all()
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["fundamental_floor"] == 0.3


# --------------------------------------------------------------------------------------------
# Failures that say what happened (reliability cases)


def _train_cli(tiny_data, out_dir, *extra, **popen):
    import subprocess
    import sys

    overlay = Path(out_dir).parent / "tiny.yaml"
    overlay.write_text(
        yaml.safe_dump({"batch_size": 8, "validate_every": 2, "keep_best_every": 0, "data": str(tiny_data)})
    )
    command = [sys.executable, "-m", "sot_utils.training.train", "--group", "MSS-Lin", "--seed", "5"]
    command += ["--config", str(overlay), "--out-dir", str(out_dir), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_a_learning_rate_of_1e10_says_training_diverged_at_its_step(tiny_data, tmp_path):
    overlay = tmp_path / "lr.yaml"
    overlay.write_text("learning_rate: 1e10\n")  # an exponent without a dot: a number, as in YAML 1.2
    process = _train_cli(tiny_data, tmp_path / "run", "--config", str(overlay), "--steps", "6")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: training diverged at step ") and "learning_rate` (1e+10)" in last, last
    assert not (tmp_path / "run").exists() or (tmp_path / "run" / "last.pt").exists()  # no config-only folder


def test_sigint_during_training_ends_with_one_line_and_the_run_resumes(tiny_data, tmp_path):
    import signal
    import time

    process = _train_cli(tiny_data, tmp_path / "run", "--steps", "2000")
    deadline = time.monotonic() + 240
    while not (tmp_path / "run" / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert "error: interrupted; the run resumes from step " in err.strip().splitlines()[-1]
    assert not (tmp_path / "run" / ".lock").exists()


def test_steps_below_the_runs_step_change_nothing_and_say_so(tiny_data, tmp_path):
    process = _train_cli(tiny_data, tmp_path / "run", "--steps", "4")
    assert process.communicate(timeout=300)[0].strip().endswith(f"trained to step 4: {tmp_path / 'run'}")
    before = (tmp_path / "run" / "last.pt").read_bytes()
    process = _train_cli(tiny_data, tmp_path / "run", "--steps", "2")
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0 and "already trained to step 4 (more than --steps 2): nothing changed" in out
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_an_out_dir_behind_a_broken_symbolic_link_is_named(tiny_data, tmp_path, kind):
    link = tmp_path / "link"
    if kind == "dangling":
        link.symlink_to(tmp_path / "missing")
    else:
        link.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(link)
    with pytest.raises(ValueError, match="is a symbolic link to .* does not resolve to a folder"):
        train(run_config(tiny_data, link / "run"), progress=False)


def test_a_run_refused_by_another_owners_lock_leaves_that_owners_files(tiny_data, tmp_path):
    import os
    import socket

    from sot_utils.training.checkpoint import RunLockedError

    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(f"{socket.gethostname()} {os.getppid()}\n")  # a live process owns it
    (out / "config.yaml").write_text("theirs")
    (out / "log.csv").write_text("theirs")
    with pytest.raises(RunLockedError):
        train(run_config(tiny_data, out), progress=False)
    assert (out / "config.yaml").read_text() == "theirs" and (out / "log.csv").read_text() == "theirs"


def test_played_amplitudes_render_the_normalised_audio_at_the_true_f0(tiny_data):
    """The labels an oracle-amplitude decoder plays: the synth at the true f0 with them gives the
    peak-normalised audio the loss compares against (the synth is linear in the amplitudes)."""
    from sot_utils.synth import harmonic_synth
    from sot_utils.training.train import cached_features

    audio, _, labels = cached_features(tiny_data, "train", progress=False)
    played = labels["played_amplitudes"]
    frames = 16
    render = harmonic_synth(
        labels["f0_hz"][:, None].expand(-1, frames),
        torch.nn.functional.pad(played, (0, 20 - played.shape[1]))[:, None].expand(-1, frames, -1),
        audio.shape[-1],
        16000,
    )
    torch.testing.assert_close(render, audio, rtol=0, atol=2e-6)


def test_an_oracle_amplitude_run_trains_the_f0_head_only(tiny_data, tmp_path):
    """With `model.oracle_amplitudes` the amplitude head gets no gradient from the loss (only weight
    decay moves it), the f0 head does, and the run's checkpoints evaluate with the oracle too."""
    from sot_utils.training.evaluate import evaluate_checkpoint
    from sot_utils.training.train import cached_features

    config = run_config(tiny_data, tmp_path / "oracle", group="SOT-2048", steps=2, model={"oracle_amplitudes": True})
    audio, cqt, labels = cached_features(tiny_data, "train", progress=False)
    torch.manual_seed(0)
    model = config.model.build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    train_step(
        model, build_loss(config), optimizer, audio[:8], cqt[:8], 4, oracle_amplitudes=labels["played_amplitudes"][:8]
    )
    assert model.encoder.amplitude_head.weight.grad is None
    assert float(model.encoder.f0_head.weight.grad.abs().sum()) > 0
    out = train(config, progress=False)
    metrics = evaluate_checkpoint(out / "last.pt", split="val")
    assert np.isfinite(metrics["lsd"]) and 0 <= metrics["rpa"] <= 100
    with pytest.raises(ValueError, match="oracle amplitudes"):
        train_step(model, build_loss(config), optimizer, audio[:8], cqt[:8], 4)
