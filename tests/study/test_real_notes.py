"""Real instrument notes from a General MIDI soundfont: labels, rendering, f0, file, CLI, errors.

The pitch checks use oracles independent of the module: librosa's MIDI-to-Hz conversion and its
YIN f0 estimator (which never sees the label), and a numpy spectrum for the sub-octave check.
Rendering tests need FluidSynth and Debian's TimGM6mb soundfont (`make soundfont`, run by
`make test`); without them they are skipped with that reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from sot_utils.study.real_notes import (
    DEFAULT_INSTRUMENTS,
    DEFAULT_SOUNDFONT,
    GM_FAMILY_NAMES,
    N_SAMPLES,
    SAMPLE_RATE,
    Instrument,
    audible,
    check_instruments,
    check_soundfont,
    family_indices,
    generate_real_notes,
    import_fluidsynth,
    load_real_notes,
    main,
    midi_to_hz,
    note_plan,
    read_real_notes,
    render_excerpts,
    render_note,
    save_real_notes,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def rendering_unavailable() -> str | None:
    """Why notes cannot be rendered here, or None."""
    if not Path(DEFAULT_SOUNDFONT).is_file():
        return f"soundfont {DEFAULT_SOUNDFONT} missing; run `make soundfont`"
    try:
        import_fluidsynth()
    except RuntimeError as error:
        return str(error)
    return None


SKIP_REASON = rendering_unavailable()
needs_fluidsynth = pytest.mark.skipif(SKIP_REASON is not None, reason=str(SKIP_REASON))

# Three flute notes and the bass's two lowest: two families, enough for the file tests, fast.
SMALL_SET = (Instrument(73, "Flute", 72, 74), Instrument(33, "Electric Bass (finger)", 28, 29))


def cents(estimate_hz, reference_hz):
    return 1200 * np.log2(np.asarray(estimate_hz) / np.asarray(reference_hz))


def yin_f0(excerpt: torch.Tensor) -> float:
    """Median YIN f0 of an excerpt, Hz, searched over 35-2000 Hz (the label plays no part)."""
    f0 = librosa.yin(
        excerpt.numpy(),
        fmin=35,
        fmax=2000,
        sr=SAMPLE_RATE,
        frame_length=2048,
        hop_length=256,
        center=False,
    )
    return float(np.median(f0))


def off_harmonic_energy(excerpt: torch.Tensor, f0_hz: float) -> float:
    """Fraction of the excerpt's spectral energy farther than 3 bins from every multiple of f0."""
    x = excerpt.numpy() * np.hanning(excerpt.shape[-1])
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(excerpt.shape[-1], 1 / SAMPLE_RATE)
    nearest = np.maximum(np.round(freqs / f0_hz), 1) * f0_hz
    on_harmonic = np.abs(freqs - nearest) <= 3 * SAMPLE_RATE / excerpt.shape[-1]
    return float(1 - power[on_harmonic].sum() / power.sum())


def render(programs: list[int], midi_notes: list[int]):
    """Excerpts ``[N, 4096]`` and note peaks ``[N]`` of the given notes, from TimGM6mb."""
    return render_excerpts(DEFAULT_SOUNDFONT, torch.tensor(programs), torch.tensor(midi_notes), progress=False)


@pytest.fixture(scope="module")
def small_notes():
    return None if SKIP_REASON else generate_real_notes(instruments=SMALL_SET, progress=False)


# --------------------------------------------------------------------------------------------
# Labels and plan (no rendering)


def test_midi_to_hz_matches_librosa():
    midi = torch.arange(0, 128)
    expected = librosa.midi_to_hz(midi.numpy())
    np.testing.assert_allclose(midi_to_hz(midi).numpy(), expected, rtol=1e-6)
    assert midi_to_hz(torch.tensor([69]))[0] == 440.0


def test_default_plan_stays_inside_40_to_1950_hz_and_each_instruments_range():
    programs, midi_notes = note_plan(DEFAULT_INSTRUMENTS)
    f0 = midi_to_hz(midi_notes)
    assert f0.min() > 40 and f0.max() < 1950
    for instrument in DEFAULT_INSTRUMENTS:
        notes = midi_notes[programs == instrument.program]
        assert notes.tolist() == list(range(instrument.lowest_midi, instrument.highest_midi + 1))
    families = {GM_FAMILY_NAMES[p // 8] for p in programs.tolist()}
    assert len(families) == 10 and len(programs) == 510


def test_quick_plan_renders_the_two_ends_of_each_range():
    programs, midi_notes = note_plan(DEFAULT_INSTRUMENTS, quick=True)
    assert len(programs) == 2 * len(DEFAULT_INSTRUMENTS)
    ends = [(i.lowest_midi, i.highest_midi) for i in DEFAULT_INSTRUMENTS]
    assert list(zip(midi_notes[::2].tolist(), midi_notes[1::2].tolist())) == ends
    assert programs[::2].tolist() == [i.program for i in DEFAULT_INSTRUMENTS]


@pytest.mark.parametrize(
    "instruments, message",
    [
        ((), "non-empty"),
        ((Instrument(0, "too low", 27, 60),), "28..94"),
        ((Instrument(0, "too high", 60, 95),), "28..94"),
        ((Instrument(0, "reversed", 70, 60),), "28..94"),
        ((Instrument(128, "no such program", 60, 70),), "0..127"),
    ],
)
def test_bad_instruments_are_refused_by_name(instruments, message):
    with pytest.raises(ValueError, match=message):
        check_instruments(instruments)


def test_audible_drops_decayed_and_silent_excerpts():
    excerpts = torch.zeros(3, 8)
    excerpts[0, 3] = 0.5  # 6 dB below its note's peak: kept
    excerpts[1, 3] = 0.5e-3  # 66 dB below: decayed
    note_peaks = torch.tensor([1.0, 1.0, 1.0])  # the third excerpt is all zeros
    assert audible(excerpts, note_peaks).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="note_peaks"):
        audible(excerpts, note_peaks[:2])


def test_family_indices_groups_in_general_midi_order():
    groups = family_indices(["pipe", "piano", "pipe", "bass"])
    assert list(groups) == ["piano", "bass", "pipe"]
    assert groups["pipe"].tolist() == [0, 2]
    with pytest.raises(ValueError, match="family_name"):
        family_indices(["kazoo"])


# --------------------------------------------------------------------------------------------
# Errors for the soundfont and FluidSynth


def test_missing_soundfont_names_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="`soundfont`.*does not exist"):
        check_soundfont(tmp_path / "absent.sf2")


def test_non_soundfont_files_are_refused(tmp_path):
    wrong_suffix = tmp_path / "notes.wav"
    wrong_suffix.write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(ValueError, match=r"`soundfont` must be a SoundFont 2 file \(\.sf2\)"):
        check_soundfont(wrong_suffix)
    not_riff = tmp_path / "fake.sf2"
    not_riff.write_text("not a soundfont")
    with pytest.raises(ValueError, match="no RIFF sfbk header"):
        check_soundfont(not_riff)


def test_missing_fluidsynth_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # makes `import fluidsynth` fail
    with pytest.raises(RuntimeError, match="make soundfont"):
        import_fluidsynth()


def test_read_real_notes_of_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make real-notes"):
        read_real_notes(tmp_path / "absent.pt")


def test_cli_reports_a_bad_soundfont(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--soundfont", str(tmp_path / "absent.sf2"), "--out", str(tmp_path / "notes.pt")])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert "`soundfont`" in stderr and "does not exist" in stderr
    assert not (tmp_path / "notes.pt").exists()


# --------------------------------------------------------------------------------------------
# Rendering


@needs_fluidsynth
def test_rendering_is_deterministic_and_each_note_independent_of_the_previous():
    alone_a = render_note(DEFAULT_SOUNDFONT, 73, 72, 4800)
    alone_b = render_note(DEFAULT_SOUNDFONT, 73, 72, 4800)
    assert alone_a.shape == (4800,) and alone_a.abs().max() > 0
    assert torch.equal(alone_a, alone_b)
    after_other, _ = render(programs=[0, 73], midi_notes=[40, 72])
    alone, _ = render(programs=[73], midi_notes=[72])
    assert torch.equal(after_other[1], alone[0])


@needs_fluidsynth
@pytest.mark.parametrize(
    "program, midi_note",
    [(73, 60), (73, 72), (73, 84), (73, 94), (20, 36), (20, 48), (20, 69), (20, 88), (71, 50), (71, 79)],
)
def test_yin_finds_the_labelled_f0_within_50_cents(program, midi_note):
    """Flute, reed organ and clarinet: steady, strongly periodic notes where YIN is reliable."""
    excerpts, _ = render(programs=[program], midi_notes=[midi_note])
    assert excerpts.shape == (1, N_SAMPLES)
    label = float(midi_to_hz(torch.tensor([midi_note]))[0])
    assert abs(cents(yin_f0(excerpts[0]), label)) < 50


@needs_fluidsynth
def test_reed_organ_is_on_the_labels_harmonics_unlike_the_drawbar_organ():
    """Why the drawbar organ is left out: its 16-foot stop puts energy between the label's harmonics."""
    excerpts, _ = render(programs=[20, 16], midi_notes=[48, 48])
    label = float(midi_to_hz(torch.tensor([48]))[0])
    assert off_harmonic_energy(excerpts[0], label) < 0.02
    assert off_harmonic_energy(excerpts[1], label) > 0.2


# --------------------------------------------------------------------------------------------
# File round trip and CLI


@needs_fluidsynth
def test_generated_examples_have_the_documented_layout(small_notes):
    examples, meta = small_notes["examples"], small_notes["meta"]
    n = 5
    assert examples["audio"].shape == (n, N_SAMPLES) and examples["audio"].dtype == torch.float32
    assert examples["midi_note"].tolist() == [72, 73, 74, 28, 29]
    assert examples["program"].tolist() == [73, 73, 73, 33, 33]
    assert examples["family"].tolist() == [9, 9, 9, 4, 4]
    assert examples["family_name"] == ["pipe"] * 3 + ["bass"] * 2
    assert examples["instrument"] == ["Flute"] * 3 + ["Electric Bass (finger)"] * 2
    expected_f0 = torch.from_numpy(librosa.midi_to_hz([72, 73, 74, 28, 29])).float()
    torch.testing.assert_close(examples["f0_hz"], expected_f0)
    assert meta["sample_rate"] == SAMPLE_RATE and meta["dropped"] == []
    assert len(meta["soundfont_sha256"]) == 64 and meta["soundfont"] == DEFAULT_SOUNDFONT


@needs_fluidsynth
def test_file_round_trip_and_same_bytes_whatever_the_name(small_notes, tmp_path):
    digest = save_real_notes(small_notes, tmp_path / "a.pt")
    assert save_real_notes(small_notes, tmp_path / "elsewhere" / "b.pt") == digest
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "elsewhere" / "b.pt").read_bytes()
    stored = read_real_notes(tmp_path / "a.pt")
    for key, value in small_notes["examples"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(stored["examples"][key], value)
        else:
            assert stored["examples"][key] == value
    assert stored["meta"] == small_notes["meta"]


@needs_fluidsynth
def test_load_real_notes_peak_normalises_to_0_9(small_notes, tmp_path):
    save_real_notes(small_notes, tmp_path / "notes.pt")
    loaded = load_real_notes(tmp_path / "notes.pt")
    torch.testing.assert_close(loaded["audio"].abs().amax(dim=-1), torch.full((5,), 0.9))
    assert loaded["sample_rate"] == SAMPLE_RATE
    assert list(family_indices(loaded["family_name"])) == ["bass", "pipe"]


@needs_fluidsynth
def test_read_refuses_another_format_version(small_notes, tmp_path):
    stale = {"meta": {**small_notes["meta"], "format_version": 0}, "examples": small_notes["examples"]}
    save_real_notes(stale, tmp_path / "stale.pt")
    with pytest.raises(ValueError, match="format version"):
        read_real_notes(tmp_path / "stale.pt")


@needs_fluidsynth
def test_cli_quick_mode_writes_a_loadable_file(tmp_path):
    out = tmp_path / "quick.pt"
    result = subprocess.run(
        [sys.executable, "-m", "sot_utils.study.real_notes", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    loaded = load_real_notes(out)
    assert loaded["audio"].shape == (2 * len(DEFAULT_INSTRUMENTS), N_SAMPLES)
    assert loaded["meta"]["quick"] is True
    assert 40 < loaded["f0_hz"].min() and loaded["f0_hz"].max() < 1950
