"""Run configs: one file per group, strict types, composition, upgrades of old checkpoints, resume checks."""

import dataclasses
import inspect
import re
from pathlib import Path

import pydantic
import pytest
import torch
import yaml

from sot_utils import configs
from sot_utils.autoencoder import HarmonicAutoencoder
from sot_utils.constants import CPU_BUDGET_STEPS
from sot_utils.encoder import PitchEncoder
from sot_utils.training.checkpoint import load_checkpoint
from sot_utils.training.config import (
    LossConfig,
    ModelConfig,
    TrainConfig,
    config_differences,
    resolve_config,
    upgrade_config,
)
from sot_utils.training.data import DEFAULT_PATH
from sot_utils.training.loss_config import PAPER_GROUPS, paper_loss

REPO = Path(__file__).resolve().parents[2]
MSS_SIZES = [2048, 1024, 512, 256, 128, 64]

# The paper's seven groups, written out independently of the config files (docs/method.md#method-groups):
# (SOT n_fft, SOT mode, SOT frequency scale) or None, (MSS weight, MSS FFT sizes, MSS log weight).
PAPER_TABLE = {
    "MSS-Lin": (None, (1.0, MSS_SIZES, 0.0)),
    "MSS-LogLin": (None, (1.0, MSS_SIZES, 1.0)),
    "SOT-512": ((512, "cut", "linear"), (0.05, MSS_SIZES, 0.0)),
    "SOT-512-LogF": ((512, "cut", "log"), (0.05, MSS_SIZES, 0.0)),
    "SOT-2048": ((2048, "cut", "linear"), (0.05, MSS_SIZES, 0.0)),
    "SOT-2048-SS": ((2048, "cut", "linear"), (0.1, [512], 0.0)),
    "SOT-NoCut": ((2048, "balanced", "linear"), (0.05, MSS_SIZES, 0.0)),
}


@pytest.mark.parametrize("group", PAPER_GROUPS)
def test_each_group_file_holds_the_papers_loss(group):
    sot, (mss_weight, mss_sizes, log_weight) = PAPER_TABLE[group]
    terms = resolve_config(group, 42).loss.terms
    assert terms["mss"] | {} == {
        "type": "multi_scale_spectral",
        "weight": mss_weight,
        "fft_sizes": mss_sizes,
        "lin_weight": 1.0,
        "log_weight": log_weight,
        "norm": "l1",
        "overlap": 0.75,
    }
    if sot is None:
        assert set(terms) == {"mss"}
        return
    n_fft, mode, scale = sot
    assert terms["sot"] == {
        "type": "spectral_ot",
        "weight": 1.0,
        "n_fft": n_fft,
        "hop_length": 256,
        "window": "flattop",
        "power": True,
        "frequency_scale": scale,
        "p": 2,
        "root": False,
        "mode": mode,
        "pad_end": True,
        "noise_floor": None,
    }


def test_one_file_per_group_and_none_repeats_the_base():
    base = configs.read_config("base")
    assert set(PAPER_GROUPS) <= set(configs.group_names())
    for group in configs.group_names():
        values = configs.read_config("groups", group)
        assert set(values) == {"loss"} and set(values["loss"]) == {"terms"}, group  # a group differs by its loss only
        for key, value in values.items():
            assert base.get(key) != value, (group, key)
    bodies = [yaml.safe_dump(configs.read_config("groups", g)) for g in configs.group_names()]
    assert len(set(bodies)) == len(bodies), "two group files say the same thing"


def test_the_default_budget_is_the_shipped_one_and_the_papers_is_an_option():
    assert resolve_config("SOT-2048", 42).steps == 9900
    assert resolve_config("SOT-2048", 42, steps=22000).steps == 22000
    assert resolve_config("SOT-2048", 42).out_dir == "checkpoints/SOT-2048/42"


def test_a_remedy_changes_only_what_it_names_and_has_its_own_folder():
    plain, remedied = resolve_config("SOT-2048", 42), resolve_config("SOT-2048", 42, remedy="recipe")
    differences = config_differences(plain.to_dict(), remedied.to_dict(), ignore=())
    assert sorted(d.split(":")[0] for d in differences) == [
        "loss.harmonic_prior_weight",
        "model.f0_head_init",
        "out_dir",
        "remedy",
        "steps",
    ]
    assert remedied.out_dir == "checkpoints/remedies/recipe/SOT-2048/42"
    floored = resolve_config("SOT-2048", 42, remedy="fundamental-floor")
    differences = config_differences(plain.to_dict(), floored.to_dict(), ignore=())
    assert sorted(d.split(":")[0] for d in differences) == ["model.fundamental_floor", "out_dir", "remedy", "steps"]
    assert floored.model.fundamental_floor == 0.3 and floored.model.build().encoder.fundamental_floor == 0.3
    # recipe-floor is the recipe plus the floor, and nothing else
    combined = resolve_config("SOT-2048", 42, remedy="recipe-floor")
    differences = config_differences(remedied.to_dict(), combined.to_dict(), ignore=())
    assert sorted(d.split(":")[0] for d in differences) == ["model.fundamental_floor", "out_dir", "remedy"]
    assert combined.model.build().encoder.fundamental_floor == 0.3 and combined.model.f0_head_init == "zero"
    # the same floor for log-frequency transport (notebook 08), nothing else
    logf = resolve_config("SOT-512-LogF", 42)
    floored_logf = resolve_config("SOT-512-LogF", 42, remedy="fundamental-floor")
    differences = config_differences(logf.to_dict(), floored_logf.to_dict(), ignore=())
    assert sorted(d.split(":")[0] for d in differences) == ["model.fundamental_floor", "out_dir", "remedy", "steps"]
    assert floored_logf.model.fundamental_floor == 0.3 and floored_logf.steps == 5500
    # recipe-mss (notebook 08): the recipe with a stronger bin-wise term, nothing else
    stronger = resolve_config("SOT-2048", 42, remedy="recipe-mss")
    differences = config_differences(remedied.to_dict(), stronger.to_dict(), ignore=())
    assert sorted(d.split(":")[0] for d in differences) == ["loss.terms.mss.weight", "out_dir", "remedy"]
    assert stronger.loss.terms["mss"]["weight"] == 0.25 and stronger.loss.terms["sot"]["weight"] == 1.0
    with pytest.raises(ValueError, match="no settings for group 'SOT-NoCut'"):
        resolve_config("SOT-NoCut", 42, remedy="recipe")


@pytest.mark.parametrize(
    "overlay, message",
    [
        ({"sot_pad_end": False}, "unknown keys \\['sot_pad_end'\\]"),
        ({"shuffle": "no"}, "`shuffle` must be true or false"),
        ({"model": {"roll_off": "False"}}, "`model.roll_off` must be true or false"),
        ({"loss": {"terms": {"sot": {"pad_end": "false"}}}}, "`loss.terms.sot.pad_end` must be true or false"),
        ({"loss": {"terms": {"sot": {"root": "no"}}}}, "`loss.terms.sot.root` must be true or false"),
        ({"weight_decay": "abc"}, "`weight_decay` must be a number"),
        ({"device": 5}, "`device` must be a string"),
        ({"device": "tpu"}, "`device` must be one of"),
        ({"steps": 0}, "`steps` must be >= 1"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"micro_batch_size": 0}, "micro_batch_size"),
        ({"model": {"channels": [40]}}, "`model.channels` needs at least 2"),
        ({"model": {"n_harmonics": 2.5}}, "`model.n_harmonics` must be an integer"),
        ({"loss": {"terms": {"sot": {"window": "hamming"}}}}, "window"),
        ({"loss": {"terms": {"sot": {"nfft": 512}}}}, "unknown options \\['nfft'\\]"),
        ({"loss": {"harmonic_prior_weight": -1}}, "harmonic_prior_weight"),
        ({"model": {"fundamental_floor": 1.5}}, "`model.fundamental_floor` must be a number in \\[0, 1\\]"),
        ({"model": {"fundamental_floor": "high"}}, "`model.fundamental_floor` must be a number"),
        ({"keep_best_every": 300}, "multiple of `validate_every`"),
        ({"group": "MSS-Lin"}, "set on the command line"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(tmp_path, overlay, message):
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    with pytest.raises(ValueError, match=message):
        resolve_config("SOT-2048", 1, overlays=[path])


@pytest.mark.parametrize(
    "text, message", [("", "is empty"), ("- steps: 10\n", "must hold a mapping"), ("steps: [1\n", "not valid YAML")]
)
def test_an_overlay_that_is_not_a_mapping_is_refused(tmp_path, text, message):
    path = tmp_path / "overlay.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        resolve_config("SOT-2048", 1, overlays=[path])
    with pytest.raises(ValueError, match="cannot read config"):
        resolve_config("SOT-2048", 1, overlays=[tmp_path / "missing.yaml"])


@pytest.mark.parametrize(
    ("remedy", "key", "value"),
    [
        ("recipe-logf", "frequency_scale", "log"),
        ("recipe-complete", "pad_end", False),
        ("recipe-balanced", "mode", "balanced"),
    ],
)
def test_the_sot_recipe_candidates_change_one_transport_option_of_the_recipe(remedy, key, value):
    recipe, candidate = resolve_config("SOT-2048", 42, remedy="recipe"), resolve_config("SOT-2048", 42, remedy=remedy)
    differences = config_differences(recipe.to_dict(), candidate.to_dict(), ignore=())
    assert sorted(d.split(":")[0] for d in differences) == [f"loss.terms.sot.{key}", "out_dir", "remedy"]
    assert candidate.loss.terms["sot"][key] == value != recipe.loss.terms["sot"].get(key, not value)
    assert candidate.out_dir == f"checkpoints/remedies/{remedy}/SOT-2048/42"


def test_bad_groups_seeds_and_remedies_are_refused():
    for kwargs, message in (
        (dict(group="SOT-4096", seed=1), "group"),
        (dict(group="SOT-2048", seed=-1), "seed"),
        (dict(group="SOT-2048", seed=2**70), "seed"),
        (dict(group="SOT-2048", seed=True), "seed"),
        (dict(group="SOT-2048", seed=1, remedy="magic"), "remedy"),
    ):
        with pytest.raises(ValueError, match=message):
            resolve_config(**kwargs)


def test_the_resolved_config_round_trips_through_yaml():
    config = resolve_config("SOT-512-LogF", 7, remedy=None, steps=100)
    again = TrainConfig.from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert again == config


def test_every_shipped_checkpoint_upgrades_to_its_group_config():
    """Old checkpoints (flat configs) load, and match the new group files in everything a resumed
    run may not change: the shipped runs can be continued under the new configs."""
    runs = sorted(path.parent for path in (REPO / "checkpoints").glob("*/*/last.pt"))
    assert len(runs) >= 22
    for run in runs:
        stored = load_checkpoint(run / "last.pt", kind="last")["config"]
        assert stored.group == run.parent.name and stored.seed == int(run.name)
        current = resolve_config(stored.group, stored.seed)
        assert config_differences(stored.to_dict(), current.to_dict()) == [], run


def test_old_flat_configs_map_their_switches():
    flat = {
        "group": "SOT-512-LogF",
        "seed": 3,
        "steps": 100,
        "sot_root": True,
        "reference_logf": True,
        "sot_pad_end": False,
        "roll_off": True,
    }
    config = upgrade_config(flat)
    sot = config.loss.terms["sot"]
    assert (sot["root"], sot["frequency_scale"], sot["pad_end"], config.model.roll_off) == (True, "linear", False, True)
    assert upgrade_config({"group": "SOT-2048", "seed": 1, "sot_pad_end": False}).group == "SOT-2048-complete-frames"
    with pytest.raises(ValueError, match="no `seed`"):
        upgrade_config({"group": "SOT-2048"})
    with pytest.raises(ValueError, match="must be a mapping"):
        upgrade_config("SOT-2048")
    loss = paper_loss("SOT-512-LogF", root=True, reference_logf=True)
    assert loss.terms["sot"].root and loss.terms["sot"].frequency_scale == "linear"


# --------------------------------------------------------------------------------------------
# Hostile and mistaken YAML (reliability cases)


def _alias_bomb(levels: int) -> str:
    """``shuffle:`` holding nested aliases: a few hundred bytes that expand to 9**levels strings."""
    lines = ["shuffle: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"k{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [5, 7])
def test_a_yaml_alias_bomb_is_refused_at_once_with_a_short_message(tmp_path, levels):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(levels))
    assert len(path.read_bytes()) < 600
    with pytest.raises(ValueError, match="anchors and aliases") as error:
        resolve_config("MSS-Lin", 1, overlays=[path])
    assert len(str(error.value)) < 400 and str(path) in str(error.value)


def test_duplicate_yaml_keys_are_refused_not_last_one_wins(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("steps: 3\nsteps: 5\n")
    with pytest.raises(ValueError, match="duplicate key 'steps'.*line 2|line 2.*duplicate key 'steps'"):
        resolve_config("MSS-Lin", 1, overlays=[path])
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  dropout: 0.1\n  dropout: 0.2\n")
    with pytest.raises(ValueError, match="duplicate key 'dropout'"):
        resolve_config("MSS-Lin", 1, overlays=[nested])


def test_exponents_are_numbers_as_in_yaml_1_2(tmp_path):
    path = tmp_path / "rate.yaml"
    path.write_text("learning_rate: 1e-3\nweight_decay: 1.0e-5\n")
    config = resolve_config("MSS-Lin", 1, overlays=[path])
    assert config.learning_rate == 1e-3 and config.weight_decay == 1e-5
    assert configs.load_yaml("a: e10\nb: 1e\n", "x") == {"a": "e10", "b": "1e"}  # not numbers


def test_error_messages_cap_the_value_they_quote(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("shuffle: [" + ", ".join(["'" + "a" * 200 + "'"] * 2000) + "]\n")
    with pytest.raises(ValueError, match="`shuffle` must be true or false") as error:
        resolve_config("MSS-Lin", 1, overlays=[path])
    assert len(str(error.value)) < 300


def test_an_infinite_prior_weight_is_refused_before_training(tmp_path):
    path = tmp_path / "inf.yaml"
    path.write_text("loss:\n  harmonic_prior_weight: .inf\n")
    with pytest.raises(ValueError, match="harmonic_prior_weight` must be a finite number"):
        resolve_config("MSS-Lin", 1, overlays=[path])


def test_a_huge_or_binary_overlay_is_refused_before_parsing(tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * (configs.MAX_CONFIG_BYTES + 10) + "\n")
    with pytest.raises(ValueError, match="at most"):
        resolve_config("MSS-Lin", 1, overlays=[huge])
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00steps: 1")
    with pytest.raises(ValueError, match="not a text file"):
        resolve_config("MSS-Lin", 1, overlays=[binary])


def test_a_stored_config_with_an_unknown_group_is_named(tmp_path):
    with pytest.raises(ValueError, match="`group` must be one of .* got 'SOT-4096'"):
        upgrade_config({"group": "SOT-4096", "seed": 1, "sot_root": False})


# --------------------------------------------------------------------------------------------
# One place for each default (base.yaml), and the schema's strict types


def test_every_default_is_base_yaml():
    """The schema takes every default from base.yaml: a config built directly has base.yaml's
    values (and its group's loss), the composed one but for the output folder."""
    base = configs.read_config("base")
    direct = TrainConfig(group="SOT-2048", seed=42).to_dict()
    assert set(direct) == set(base) | {"group", "seed", "remedy", "out_dir"}
    for key, value in base.items():
        if key == "loss":
            assert {k: v for k, v in direct[key].items() if k != "terms"} == {
                k: v for k, v in value.items() if k != "terms"
            }
        else:
            assert direct[key] == value and type(direct[key]) is type(value), key
    assert dataclasses.asdict(ModelConfig()) == base["model"]
    assert {field.name for field in dataclasses.fields(LossConfig)} == set(base["loss"])
    for group in configs.group_names():
        assert TrainConfig(group=group, seed=3, out_dir="x") == resolve_config(group, 3, out_dir="x"), group


def test_the_values_that_had_a_second_copy_are_base_yamls():
    base = configs.read_config("base")
    assert CPU_BUDGET_STEPS == base["steps"] == TrainConfig(group="MSS-Lin", seed=1).steps == 9900
    # the shipped runs kept the best checkpoint every 1,100 steps, built directly or composed
    assert TrainConfig(group="MSS-Lin", seed=1).keep_best_every == resolve_config("MSS-Lin", 1).keep_best_every == 1100
    assert base["data"] == DEFAULT_PATH  # sot_utils.training.data keeps its own copy: the two must agree


def test_the_constructors_defaults_are_base_yamls_model_section():
    """``PitchEncoder``'s and ``HarmonicAutoencoder``'s defaults are read from base.yaml:
    ``HarmonicAutoencoder()`` is ``ModelConfig().build()``."""
    model = configs.read_config("base")["model"]
    encoder = {name: parameter.default for name, parameter in inspect.signature(PitchEncoder).parameters.items()}
    for key, value in model.items():
        if key in ("roll_off", "oracle_amplitudes"):
            assert inspect.signature(HarmonicAutoencoder).parameters[key].default is value
        else:
            assert encoder[key] == (tuple(value) if isinstance(value, list) else value), key
    torch.manual_seed(0)
    plain = HarmonicAutoencoder()
    torch.manual_seed(0)
    built = ModelConfig().build()
    assert repr(plain) == repr(built)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), built.state_dict().values(), strict=True))


@pytest.mark.parametrize("value", ["false", "true", "no", "yes", 0, 1, None, [False]])
@pytest.mark.parametrize("key", ["shuffle", "model.roll_off"])
def test_a_boolean_must_be_a_yaml_boolean(tmp_path, key, value):
    path = tmp_path / "overlay.yaml"
    section, _, name = key.rpartition(".")
    path.write_text(yaml.safe_dump({section: {name: value}} if section else {name: value}))
    with pytest.raises(ValueError, match=f"`{key}` must be true or false") as error:
        resolve_config("SOT-2048", 1, overlays=[path])
    assert not isinstance(error.value, pydantic.ValidationError)  # the project's message, not pydantic's
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"steps": True}, "`steps` must be an integer, got True"),
        ({"model": {"n_harmonics": False}}, "`model.n_harmonics` must be an integer, got False"),
        ({"model": {"channels": [40, True, 3]}}, "`model.channels\\[1\\]` must be an integer, got True"),
        ({"model": {"dropout": True}}, "`model.dropout` must be a number, got True"),
        ({"learning_rate": "1e-4"}, "`learning_rate` must be a number, got '1e-4'"),
        ({"seed": "1"}, "`seed` must be an integer, got '1'"),
        ({"model": "big"}, "`model` must be a mapping of settings, got str: 'big'"),
    ],
)
def test_an_int_is_not_a_bool_and_a_string_is_not_a_number(values, message):
    stored = resolve_config("SOT-2048", 1).to_dict()
    with pytest.raises(ValueError, match=message) as error:
        TrainConfig.from_dict(stored | values)
    assert not isinstance(error.value, pydantic.ValidationError)


def test_an_int_is_accepted_where_a_float_is_declared_and_stored_as_a_float(tmp_path):
    path = tmp_path / "ints.yaml"
    path.write_text(
        "learning_rate: 1\nweight_decay: 0\nmodel: {dropout: 0, leaky_slope: 1, fundamental_floor: 1}\n"
        "loss: {harmonic_prior_weight: 2}\n"
    )
    config = resolve_config("SOT-2048", 1, overlays=[path])
    values = [config.learning_rate, config.weight_decay, config.model.dropout, config.model.leaky_slope]
    values += [config.model.fundamental_floor, config.loss.harmonic_prior_weight]
    assert values == [1.0, 0.0, 0.0, 1.0, 1.0, 2.0] and all(type(v) is float for v in values)
    saved = yaml.safe_dump(config.to_dict())  # written as floats: the saved config reads back the same
    assert "learning_rate: 1.0" in saved and "dropout: 0.0" in saved
    assert TrainConfig.from_dict(yaml.safe_load(saved)) == config
    # the range checks still see the value
    path.write_text("model: {dropout: 1}\n")
    with pytest.raises(ValueError, match="`model.dropout` must be in \\[0, 1\\), got 1.0"):
        resolve_config("SOT-2048", 1, overlays=[path])


@pytest.mark.parametrize(
    "overlay, path",
    [
        ({"model": {"dropout_rate": 0.1}}, "model.dropout_rate"),
        ({"loss": {"prior_weight": 0.1}}, "loss.prior_weight"),
        ({"learning_rat": 0.1}, "learning_rat"),
    ],
)
def test_an_unknown_key_is_named_by_its_key_path(tmp_path, overlay, path):
    file = tmp_path / "typo.yaml"
    file.write_text(yaml.safe_dump(overlay))
    with pytest.raises(ValueError, match=f"unknown keys \\['{path}'\\]; known keys") as error:
        resolve_config("SOT-2048", 1, overlays=[file])
    assert str(error.value).startswith(f"{file}: config: ")  # the file it came from
    section = path.partition(".")[0] if "." in path else None
    if section is not None:  # the keys it could have meant
        assert f"known keys in {section} are" in str(error.value)
        assert all(name in str(error.value) for name in configs.read_config("base")[section])


def test_a_missing_setting_is_named():
    stored = resolve_config("SOT-2048", 1).to_dict()
    del stored["seed"]
    with pytest.raises(ValueError, match="config: `seed` is missing"):
        TrainConfig.from_dict(stored)
    with pytest.raises(ValueError, match="`group` is missing"):
        TrainConfig.from_dict({"seed": 1})


@pytest.mark.parametrize(
    "overlay, message",
    [
        ({"model": {"f0_head_init": "x" * 10_000}}, "`model.f0_head_init` must be one of"),
        ({"steps": "y" * 10_000}, "`steps` must be an integer"),
        ({"model": {"channels": [list(range(10_000))]}}, "`model.channels\\[0\\]` must be an integer"),
        ({"device": ["cuda"] * 10_000}, "`device` must be a string"),
        ({"model": {"k" * 10_000: 1}}, "unknown keys"),
    ],
)
def test_a_long_value_is_cut_short_in_the_message(tmp_path, overlay, message):
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(overlay))
    with pytest.raises(ValueError, match=message) as error:
        resolve_config("SOT-2048", 1, overlays=[path])
    text = str(error.value).replace(str(path), "")
    assert "..." in text and len(text) < 400, text


def test_several_bad_settings_are_all_named():
    stored = resolve_config("SOT-2048", 1).to_dict()
    with pytest.raises(
        ValueError, match="`steps` must be an integer, got '10' \\(also wrong: shuffle, model.dropout\\)$"
    ):
        TrainConfig.from_dict(stored | {"shuffle": "no", "steps": "10", "model": stored["model"] | {"dropout": "0"}})


def test_the_package_guides_overlays_change_what_it_says(tmp_path):
    """docs/package.md shows a newcomer where to change the SOT cutoff, the encoder width and the budget: its
    example overlays resolve and change exactly that."""
    guide = (REPO / "docs" / "package.md").read_text()
    rows = {row.split("|")[1].strip(): row.split("|")[3] for row in guide.splitlines() if row.startswith("| the ")}
    overlays = {}
    for what in ("the SOT frequency cutoff", "the encoder's width"):
        (example,) = re.findall(r"`([^`]+)`", rows[what])
        overlays[what] = tmp_path / f"{len(overlays)}.yaml"
        overlays[what].write_text(example + "\n")
    base = resolve_config("SOT-2048", 42)
    nocut = resolve_config("SOT-2048", 42, overlays=[overlays["the SOT frequency cutoff"]])
    assert (base.loss.terms["sot"]["mode"], nocut.loss.terms["sot"]["mode"]) == ("cut", "balanced")
    wide = resolve_config("SOT-2048", 42, overlays=[overlays["the encoder's width"]])
    assert wide.model.channels[0] != base.model.channels[0] and wide.model.channels[1:] == base.model.channels[1:]
    assert re.search(r"`--steps (\d+)`", rows["the training budget"])
    steps = int(re.search(r"`--steps (\d+)`", rows["the training budget"]).group(1))
    assert resolve_config("SOT-2048", 42, steps=steps).steps == steps != base.steps


@pytest.mark.parametrize(
    "overlay", sorted(str(p.relative_to(REPO)) for p in (REPO / "sot_utils/configs/experiments").rglob("*.yaml"))
)
def test_every_experiment_overlay_resolves_and_sets_what_it_says(overlay):
    """The overlays of the evidence and real-sounds experiments (used with --config) are valid
    configs for the groups they name, and every key they hold reaches the resolved config."""
    written = yaml.safe_load((REPO / overlay).read_text())
    for group in ("MSS-Lin", "SOT-2048"):
        resolved = resolve_config(group, 0, overlays=[str(REPO / overlay)]).to_dict()

        def check(expected, actual, where):
            for key, value in expected.items():
                if isinstance(value, dict):
                    check(value, actual[key], f"{where}{key}.")
                else:
                    assert actual[key] == (list(value) if isinstance(value, tuple) else value), (
                        f"{overlay}: {where}{key}"
                    )

        check(written, resolved, "")
