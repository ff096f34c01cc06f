"""Ensemble training: each member follows its separate run; checkpoints are interchangeable."""

import csv
from types import SimpleNamespace

import pytest
import torch

from sot_utils.autoencoder import HarmonicAutoencoder
from sot_utils.training import ensemble as ensemble_module
from sot_utils.training.config import resolve_config
from sot_utils.training.data import cached_features
from sot_utils.training.ensemble import (
    EnsembleAutoencoder,
    ensemble_train_step,
    evaluate_ensemble,
    loss_groups,
    main,
    member_losses,
    train_ensemble,
)
from sot_utils.training.loss_config import PAPER_GROUPS
from sot_utils.training.train import build_loss, evaluate_model, train, train_step

LR = 1e-4


def run_config(tiny_data, out_dir, group="SOT-512", seed=7, **overrides):
    values = dict(steps=4, batch_size=8, validate_every=2, keep_best_every=0, data=str(tiny_data), out_dir=str(out_dir))
    values.update(overrides)
    if "roll_off" in values:
        values["model"] = {"roll_off": values.pop("roll_off")}
    return resolve_config(group, seed, **values)


def write_overlay(tmp_path, tiny_data, name="overlay.yaml", **settings):
    """An overlay config for the CLI tests: a tiny budget on the tiny dataset."""
    path = tmp_path / name
    values = dict(steps=1, batch_size=4, validate_every=1, keep_best_every=0, data=str(tiny_data)) | settings
    path.write_text("".join(f"{key}: {value}\n" for key, value in values.items()))
    return str(path)


def seeded_members(specs, dtype):
    """Models initialised as lone runs would be, and the RNG state each run's dropout starts from."""
    models, states = [], []
    for group, seed in specs:
        torch.manual_seed(seed)
        models.append(HarmonicAutoencoder(roll_off=group == "MSS-LogLin").to(dtype))
        states.append(torch.get_rng_state())
    return models, states


def test_ensemble_members_follow_their_separate_runs_step_for_step(one_torch_thread):
    """Oracle: each run trained alone with train_step (dropout on, micro-batches, Adam). In float64,
    three steps; four groups, one with the roll-off decoder. Adam turns a relative error of a
    near-zero gradient entry into an error of its whole step, so parameters are compared to a
    fraction of one learning-rate step: 0.1 % (measured: 1.2e-9, i.e. 0.001 %), and 1 % for
    MSS-LogLin, whose log terms amplify rounding in near-silent bins (3e-7 seen on other inputs). A
    wrong dropout mask or a mixed-up loss moves parameters by whole steps (checked: the seeds' own
    trajectories differ by more than that)."""
    specs = [("MSS-Lin", 1), ("SOT-512", 2), ("SOT-2048", 3), ("MSS-LogLin", 4)]
    models, states = seeded_members(specs, torch.float64)
    generators = [torch.Generator().manual_seed(0) for _ in specs]
    for generator, state in zip(generators, states):
        generator.set_state(state)
    ensemble = EnsembleAutoencoder(models, generators).train()
    losses = [build_loss(resolve_config(group, seed)).double() for group, seed in specs]
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=LR, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    audio, cqt = (
        torch.randn(6, 4096, generator=g, dtype=torch.float64) * 0.3,
        torch.rand(6, 16, 285, generator=g, dtype=torch.float64),
    )
    ensemble_losses = [
        ensemble_train_step(ensemble, losses, optimizer, audio, cqt, micro_batch_size=4) for _ in range(3)
    ]

    separate = []
    for k, (model, loss_fn) in enumerate(zip(models, losses)):
        model.train()
        lone_optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=1e-4)
        torch.set_rng_state(states[k])
        lone_losses = [train_step(model, loss_fn, lone_optimizer, audio, cqt, micro_batch_size=4) for _ in range(3)]
        assert lone_losses == pytest.approx([step[k] for step in ensemble_losses], rel=1e-8)
        member = ensemble.member_state_dict(k)
        bound = 1e-3 * LR if specs[k][0] != "MSS-LogLin" else 1e-2 * LR
        for name, param in model.named_parameters():
            torch.testing.assert_close(member[name], param.detach(), rtol=0, atol=bound, msg=f"{specs[k]}: {name}")
        separate.append(model.state_dict())
    # the runs did move apart from each other by much more than the bounds
    assert (
        float((separate[0]["encoder.prefilters.0.0.weight"] - separate[1]["encoder.prefilters.0.0.weight"]).abs().max())
        > 1e-2
    )


def test_eval_outputs_and_gradients_equal_the_members_own(one_torch_thread):
    models, _ = seeded_members([("MSS-Lin", 1), ("MSS-LogLin", 2)], torch.float64)
    ensemble = EnsembleAutoencoder(models).eval()
    g = torch.Generator().manual_seed(1)
    cqt = torch.rand(2, 3, 16, 285, generator=g, dtype=torch.float64)  # one batch per member
    audio, out = ensemble(cqt)
    assert audio.shape == (2, 3, 4096) and out.f0_hz.shape == (2, 3, 16) and out.amplitudes.shape == (2, 3, 16, 20)
    audio.square().sum().backward()
    for k, model in enumerate(models):
        model.eval()
        lone_audio, lone_out = model(cqt[k])
        torch.testing.assert_close(audio[k], lone_audio, rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(out.logits[k], lone_out.logits, rtol=1e-8, atol=1e-10)
        lone_audio.square().sum().backward()
        for i, (name, param) in enumerate(model.named_parameters()):
            torch.testing.assert_close(ensemble.params[i].grad[k], param.grad, rtol=1e-7, atol=1e-9, msg=name)


def test_validation_of_the_ensemble_gives_each_members_own_metrics(tiny_data, one_torch_thread):
    """evaluate_ensemble (members together, in batches of 8 of 10 examples) against
    evaluate_model of each member alone (in batches of 3): every metric, float64."""
    audio, cqt, labels = cached_features(str(tiny_data), "val", progress=False)
    audio, cqt = audio[:10].double(), cqt[:10].double()
    models, _ = seeded_members([("MSS-LogLin", 1), ("SOT-512", 2), ("MSS-Lin", 3)], torch.float64)
    ensemble = EnsembleAutoencoder(models).train()
    together = evaluate_ensemble(ensemble, audio, cqt, labels["f0_hz"][:10], batch_size=8)
    assert ensemble.training  # the mode is restored
    assert len(together) == 3
    for model, metrics in zip(models, together):
        alone = evaluate_model(model, audio, cqt, labels["f0_hz"][:10], batch_size=3)
        assert metrics.keys() == alone.keys()
        for key, value in alone.items():
            assert metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # the members differ: the check compares each member with its own run
    assert together[0]["lsd"] != pytest.approx(together[1]["lsd"], rel=1e-3)
    with pytest.raises(ValueError, match="same examples"):
        evaluate_ensemble(ensemble, audio[:4], cqt, labels["f0_hz"][:10])
    with pytest.raises(ValueError, match=r"`cqt`.*\[N, n_frames, n_bins\]"):
        evaluate_ensemble(ensemble, audio, cqt[0], labels["f0_hz"][:10])


def test_a_bfloat16_trunk_stays_close_and_draws_the_same_dropout(one_torch_thread):
    """trunk_dtype=bfloat16: the outputs stay within bfloat16 rounding of the float32 ensemble's
    (8 mantissa bits: about 0.4 % per rounding), gradients reach every parameter in float32, and
    the dropout masks come from the same draws (the generators end in the same state)."""
    models, _ = seeded_members([("SOT-512", 1), ("MSS-Lin", 2)], torch.float32)
    cqt = torch.rand(2, 16, 285, generator=torch.Generator().manual_seed(3))
    outputs, states = {}, {}
    for dtype in (None, torch.bfloat16):
        generators = [torch.Generator().manual_seed(k) for k in range(2)]
        ensemble = EnsembleAutoencoder(models, generators, trunk_dtype=dtype).train()
        audio, out = ensemble(cqt)
        audio.square().mean().backward()
        assert audio.dtype == out.logits.dtype == torch.float32
        assert all(
            p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
            for p in ensemble.params
        )
        outputs[dtype], states[dtype] = out, [g.get_state() for g in generators]
    assert all(torch.equal(a, b) for a, b in zip(states[None], states[torch.bfloat16]))
    full, low = outputs[None], outputs[torch.bfloat16]
    logit_error = ((low.logits - full.logits).abs().max() / full.logits.abs().max()).detach()
    assert 1e-5 < float(logit_error) < 1e-2  # rounded (measured 0.26 %), yet close
    torch.testing.assert_close(low.f0_hz, full.f0_hz, rtol=1e-2, atol=0)
    torch.testing.assert_close(low.amplitudes, full.amplitudes, rtol=1e-2, atol=1e-4)
    with pytest.raises(ValueError, match="`trunk_dtype`"):
        EnsembleAutoencoder(models, trunk_dtype=torch.float64)


@pytest.mark.parametrize("group", PAPER_GROUPS)
def test_members_sharing_a_loss_module_are_evaluated_in_one_call(group):
    """Oracle: each member's own call of the loss. One call on the members' concatenated batches,
    averaged per member, gives the same values and the same gradients (float64), for a shared
    target and for one target per member."""
    shared = build_loss(resolve_config(group, 0)).double()
    other = build_loss(resolve_config("MSS-Lin", 0)).double()
    loss_fns = [shared, other, shared, shared]
    assert loss_groups(loss_fns) == [[0, 2, 3], [1]]
    g = torch.Generator().manual_seed(3)
    for target in (
        torch.randn(3, 4096, generator=g, dtype=torch.float64) * 0.3,
        torch.randn(4, 3, 4096, generator=g, dtype=torch.float64) * 0.3,
    ):
        estimate = (torch.randn(4, 3, 4096, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
        together = member_losses(loss_fns, loss_groups(loss_fns), target, estimate)
        (grad_together,) = torch.autograd.grad((together * torch.arange(1.0, 5.0, dtype=torch.float64)).sum(), estimate)
        alone = torch.stack(
            [fn(target[k] if target.ndim == 3 else target, estimate[k]) for k, fn in enumerate(loss_fns)]
        )
        (grad_alone,) = torch.autograd.grad((alone * torch.arange(1.0, 5.0, dtype=torch.float64)).sum(), estimate)
        torch.testing.assert_close(together, alone, rtol=1e-10, atol=0)
        torch.testing.assert_close(grad_together, grad_alone, rtol=1e-8, atol=1e-14)


def test_a_loss_that_is_not_a_mean_of_examples_is_called_member_by_member():
    class Peak(torch.nn.Module):  # the batch's largest error: no per-example decomposition
        def forward(self, target, estimate):
            return (target - estimate).abs().max()

    peak = Peak()
    target, estimate = torch.zeros(2, 8), torch.arange(32.0).reshape(2, 2, 8)
    assert member_losses([peak, peak], [[0, 1]], target, estimate).tolist() == [15.0, 31.0]


def test_an_ensemble_with_shared_loss_modules_trains_as_with_one_module_per_member(one_torch_thread):
    """Two seeds of two groups, three steps in float64: sharing a group's module (one loss call
    per group, what train_ensemble does) moves every member as one module per member does (one
    call per member, which the first test checks against separate runs)."""
    specs = [("SOT-512", 1), ("MSS-Lin", 2), ("SOT-512", 3), ("MSS-Lin", 4)]
    modules = {group: build_loss(resolve_config(group, 0)).double() for group in ("SOT-512", "MSS-Lin")}
    g = torch.Generator().manual_seed(0)
    audio, cqt = (
        torch.randn(6, 4096, generator=g, dtype=torch.float64) * 0.3,
        torch.rand(6, 16, 285, generator=g, dtype=torch.float64),
    )
    results = []
    for loss_fns in (
        [modules[group] for group, _ in specs],
        [build_loss(resolve_config(group, seed)).double() for group, seed in specs],
    ):
        models, states = seeded_members(specs, torch.float64)
        generators = [torch.Generator().set_state(state) for state in states]
        ensemble = EnsembleAutoencoder(models, generators).train()
        optimizer = torch.optim.Adam(ensemble.parameters(), lr=LR, weight_decay=1e-4)
        losses = [ensemble_train_step(ensemble, loss_fns, optimizer, audio, cqt, micro_batch_size=4) for _ in range(3)]
        results.append((losses, [p.detach().clone() for p in ensemble.params]))
    (shared_losses, shared_params), (own_losses, own_params) = results
    assert torch.tensor(shared_losses) == pytest.approx(torch.tensor(own_losses), rel=1e-10)
    for a, b in zip(shared_params, own_params):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-3 * LR)


def load(path):
    return torch.load(path, weights_only=True)


def assert_same_trajectory(a: dict, b: dict) -> None:
    """Float32 runs of this model move apart by rounding alone: Adam's first steps divide each
    gradient entry by its own size, so an entry near zero takes a full step either way. Splitting
    the same batch into other micro-batches does that too (measured: mean |difference| 0.4 of one
    learning-rate step after 4 steps; ensemble against lone runs 0.2-0.55). The float64 test above
    is the exact check; here, the same initial weights and the same kind of steps: within a few
    steps at most, one step on average (weights of another seed differ by about 0.1, 1000 steps)."""
    differences = torch.cat([(a[name] - value).abs().flatten() for name, value in b.items()])
    assert float(differences.max()) < 10 * LR
    assert float(differences.mean()) < LR


def test_train_ensemble_writes_what_separate_runs_write_and_members_resume_alone(tiny_data, tmp_path, one_torch_thread):
    """Two members, one reading shuffled batches (its own), end to end in float32 against train():
    the same files, the same log steps, the same random draws, parameters within float32 rounding
    amplified by Adam (see
    :func:`assert_same_trajectory`); then a member resumes alone from the ensemble's checkpoint."""
    # not MSS-LogLin here: its log terms clamp near-silent bins, a kink that float32 rounding
    # crosses either way, so its float32 runs move apart by whole steps even between two lone runs
    # of other micro-batches (float64 bounds it in the first test)
    specs = [dict(group="SOT-512", seed=7, shuffle=True), dict(group="MSS-Lin", seed=8, roll_off=True)]
    ensemble_configs = [run_config(tiny_data, tmp_path / f"ensemble{k}", **spec) for k, spec in enumerate(specs)]
    out_dirs = train_ensemble(ensemble_configs, progress=False)
    for k, spec in enumerate(specs):
        lone = train(run_config(tiny_data, tmp_path / f"lone{k}", **spec), progress=False)
        names = {"last.pt", "best.pt", "log.csv", "config.yaml"}
        assert names <= {p.name for p in out_dirs[k].iterdir()} and names <= {p.name for p in lone.iterdir()}
        a, b = load(out_dirs[k] / "last.pt"), load(lone / "last.pt")
        assert a.keys() == b.keys() and a["step"] == b["step"] == 4 and a["config"]["seed"] == spec["seed"]
        assert_same_trajectory(a["model"], b["model"])
        assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
        for i, entry in b["optimizer"]["state"].items():
            assert float(a["optimizer"]["state"][i]["step"]) == float(entry["step"]) == 4
            assert (
                a["optimizer"]["state"][i]["exp_avg_sq"].shape == entry["exp_avg_sq"].shape
            )  # values: see the resume below
        assert torch.equal(a["rng"]["cpu"], b["rng"]["cpu"])  # the same dropout draws were taken
        rows = [list(csv.DictReader(open(d / "log.csv"))) for d in (out_dirs[k], lone)]
        assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]] == ["2", "4"]
        # steps 1-2 start from the same weights: their mean loss agrees to float32 rounding and Adam's first step
        assert float(rows[0][0]["train_loss"]) == pytest.approx(float(rows[1][0]["train_loss"]), rel=1e-3)
    # member 0 goes on alone from the ensemble's checkpoint, as if it had trained alone throughout
    resumed = train(run_config(tiny_data, out_dirs[0], steps=6, **specs[0]), progress=False)
    straight = train(run_config(tiny_data, tmp_path / "straight", steps=6, **specs[0]), progress=False)
    assert_same_trajectory(load(resumed / "last.pt")["model"], load(straight / "last.pt")["model"])


def test_separate_runs_at_one_step_resume_as_an_ensemble(tiny_data, tmp_path, one_torch_thread):
    specs = [dict(group="SOT-512", seed=7), dict(group="MSS-Lin", seed=9)]
    for k, spec in enumerate(specs):
        train(run_config(tiny_data, tmp_path / f"run{k}", steps=2, **spec), progress=False)
    train_ensemble(
        [run_config(tiny_data, tmp_path / f"run{k}", steps=4, **spec) for k, spec in enumerate(specs)], progress=False
    )
    for k, spec in enumerate(specs):
        straight = train(run_config(tiny_data, tmp_path / f"straight{k}", steps=4, **spec), progress=False)
        resumed = load(tmp_path / f"run{k}" / "last.pt")
        assert resumed["step"] == 4
        assert_same_trajectory(resumed["model"], load(straight / "last.pt")["model"])
        assert [r["step"] for r in csv.DictReader(open(tmp_path / f"run{k}" / "log.csv"))] == ["2", "4"]


def test_a_time_limit_ends_at_a_validated_checkpoint_that_resumes(tiny_data, tmp_path, one_torch_thread):
    """A zero time limit stops after the first step, validated and checkpointed as a last step;
    training on resumes and ends where an ensemble trained without a stop ends."""
    specs = [dict(group="SOT-512", seed=7), dict(group="MSS-Lin", seed=9)]
    stopped = [run_config(tiny_data, tmp_path / f"stopped{k}", **spec) for k, spec in enumerate(specs)]
    train_ensemble(stopped, progress=False, time_limit_s=0)
    for k in range(2):
        assert load(tmp_path / f"stopped{k}" / "last.pt")["step"] == 1
        assert [r["step"] for r in csv.DictReader(open(tmp_path / f"stopped{k}" / "log.csv"))] == ["1"]
    train_ensemble(stopped, progress=False, time_limit_s=3600)
    straight = train_ensemble(
        [run_config(tiny_data, tmp_path / f"straight{k}", **spec) for k, spec in enumerate(specs)], progress=False
    )
    for k in range(2):
        resumed = load(tmp_path / f"stopped{k}" / "last.pt")
        assert resumed["step"] == 4
        assert_same_trajectory(resumed["model"], load(straight[k] / "last.pt")["model"])
        assert torch.equal(resumed["rng"]["cpu"], load(straight[k] / "last.pt")["rng"]["cpu"])
        assert [r["step"] for r in csv.DictReader(open(tmp_path / f"stopped{k}" / "log.csv"))] == ["1", "2", "4"]
    with pytest.raises(ValueError, match="`time_limit_s`"):
        train_ensemble(stopped, progress=False, time_limit_s=-1)


def test_members_that_cannot_share_a_loop_are_refused(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="must share `batch_size`"):
        train_ensemble(
            [run_config(tiny_data, tmp_path / "a"), run_config(tiny_data, tmp_path / "b", batch_size=4)], progress=False
        )
    with pytest.raises(ValueError, match="its own `out_dir`"):
        train_ensemble(
            [run_config(tiny_data, tmp_path / "a"), run_config(tiny_data, tmp_path / "a", seed=1)], progress=False
        )
    train(run_config(tiny_data, tmp_path / "ahead", steps=2), progress=False)
    with pytest.raises(ValueError, match="different steps"):
        train_ensemble(
            [run_config(tiny_data, tmp_path / "ahead"), run_config(tiny_data, tmp_path / "new", seed=1)], progress=False
        )
    with pytest.raises(ValueError, match="at least one"):
        train_ensemble([], progress=False)
    with pytest.raises(ValueError, match="does not floor the fundamental"):
        train_ensemble([run_config(tiny_data, tmp_path / "f", model={"fundamental_floor": 0.3})], progress=False)


def test_bad_ensemble_inputs_get_clear_errors():
    models, _ = seeded_members([("MSS-Lin", 1), ("SOT-512", 2)], torch.float32)
    with pytest.raises(ValueError, match="another architecture"):
        EnsembleAutoencoder([models[0], HarmonicAutoencoder(channels=(40, 30, 3))])
    with pytest.raises(ValueError, match="floors its fundamental"):
        EnsembleAutoencoder([models[0], HarmonicAutoencoder(fundamental_floor=0.3)])
    with pytest.raises(ValueError, match="one generator per member"):
        EnsembleAutoencoder(models, [torch.Generator()])
    ensemble = EnsembleAutoencoder(models)
    with pytest.raises(ValueError, match="E = 2 members"):
        ensemble(torch.rand(3, 1, 16, 285))
    with pytest.raises(ValueError, match=r"\[batch, n_frames, 285\]"):
        ensemble(torch.rand(1, 16, 100))
    with pytest.raises(ValueError, match="`cqt`.*NaN"):
        ensemble(torch.full((1, 16, 285), float("nan")))
    with pytest.raises(ValueError, match="one loss per member"):
        ensemble_train_step(
            ensemble,
            [torch.nn.MSELoss()],
            torch.optim.SGD(ensemble.parameters(), lr=0),
            torch.rand(1, 4096),
            torch.rand(1, 16, 285),
            1,
        )


def test_cli_trains_consecutive_ensembles_and_rejects_bad_options(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the runs go to the default folders, checkpoints/<group>/<seed>
    overlay = write_overlay(tmp_path, tiny_data)
    args = ["--groups", "SOT-512", "MSS-Lin", "SOT-2048", "--seeds", "3", "--config", overlay]
    main(args + ["--members", "2"])
    for group in ("SOT-512", "MSS-Lin", "SOT-2048"):
        assert load(tmp_path / "checkpoints" / group / "3" / "last.pt")["step"] == 1
    assert "on a CPU an ensemble is slower than separate runs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(args + ["--members", "0"])
    with pytest.raises(SystemExit):
        main(args + ["--time-limit", "0"])
    # a 1-minute limit on a clock that moves 100 s per ensemble step: the first ensemble stops
    # after one step, the second is not started
    clock = [0.0]

    def step_of_100_s(*args, **kwargs):
        clock[0] += 100.0
        return ensemble_train_step(*args, **kwargs)

    monkeypatch.setattr(ensemble_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(ensemble_module, "ensemble_train_step", step_of_100_s)
    main(args + ["--members", "2", "--steps", "5", "--time-limit", "1"])
    out = capsys.readouterr().out
    assert "time limit: stopped at step 2 of 5" in out and "not started: checkpoints/SOT-2048/3" in out
    assert (
        load(tmp_path / "checkpoints/SOT-512/3/last.pt")["step"] == 2
        and load(tmp_path / "checkpoints/SOT-2048/3/last.pt")["step"] == 1
    )
    with pytest.raises(SystemExit):
        main(["--seeds", "3", "--config", str(tmp_path / "missing.yaml")])


def test_cli_trains_with_a_bfloat16_trunk_records_it_and_resumes_in_float32(tiny_data, tmp_path, one_torch_thread):
    """``--trunk-dtype bfloat16`` changes the training (the weights differ from float32 ones),
    keeps float32 weights, records the precision in the checkpoint; a float32 session then
    resumes the run. Adam's first steps move every entry by about the learning rate whatever the
    gradient's size, so bfloat16 rounding flips many of them: the runs may differ by up to two
    steps' worth per step (the outputs' closeness is checked in
    ``test_a_bfloat16_trunk_stays_close_and_draws_the_same_dropout``)."""
    paths = {}
    for name in ("bf16", "fp32"):
        overlay = write_overlay(
            tmp_path, tiny_data, f"{name}.yaml", steps=2, batch_size=8, validate_every=2, out_dir=tmp_path / name
        )
        paths[name] = ["--groups", "SOT-512", "--seeds", "7", "--config", overlay]
    main(paths["bf16"] + ["--trunk-dtype", "bfloat16"])
    main(paths["fp32"])
    bf16, fp32 = load(tmp_path / "bf16" / "last.pt"), load(tmp_path / "fp32" / "last.pt")
    assert bf16["trunk_dtype"] == "bfloat16" and "trunk_dtype" not in fp32
    assert all(value.dtype == torch.float32 for value in bf16["model"].values())
    differences = torch.cat([(bf16["model"][name] - value).abs().flatten() for name, value in fp32["model"].items()])
    assert 0 < float(differences.max()) <= 2 * 2 * LR * 1.01  # 2 steps, each at most LR (bias-corrected Adam) per run
    main(paths["bf16"] + ["--steps", "4"])
    resumed = load(tmp_path / "bf16" / "last.pt")
    assert resumed["step"] == 4 and "trunk_dtype" not in resumed
    with pytest.raises(SystemExit):
        main(paths["bf16"] + ["--trunk-dtype", "float64"])
    with pytest.raises(ValueError, match="`trunk_dtype`"):
        train_ensemble(
            [run_config(tiny_data, tmp_path / "fp32", steps=2, batch_size=8)], progress=False, trunk_dtype=torch.float64
        )


def test_the_ensemble_runs_the_encoders_own_layer_structure():
    """One model definition: a layer added to the encoder's trunk is run by the ensemble too (the
    same trunk_layers), and a layer type the ensemble cannot batch is refused, not skipped."""
    models, _ = seeded_members([("MSS-Lin", 1), ("SOT-512", 2)], torch.float64)
    for model in models:
        model.encoder.pointwise.insert(0, torch.nn.LeakyReLU(0.1))  # a layer added to every member
        model.eval()
    ensemble = EnsembleAutoencoder(models).eval()
    cqt = torch.rand(2, 16, 285, dtype=torch.float64)
    together = ensemble.encode(cqt)
    for k, model in enumerate(models):
        torch.testing.assert_close(together.f0_hz[k], model.encoder(cqt).f0_hz, rtol=1e-10, atol=0)
    models[0].encoder.pointwise.insert(0, torch.nn.Tanh())
    models[1].encoder.pointwise.insert(0, torch.nn.Tanh())
    with pytest.raises(TypeError, match="no ensemble version of Tanh"):
        EnsembleAutoencoder(models).encode(cqt)
