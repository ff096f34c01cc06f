"""The FreePats real-note set: config, patches, plan, FreePats-only rendering, pitch, file, CLI, errors.

The pitch checks use oracles independent of the module: the project's YIN baseline and a numpy
spectrum (neither sees the label), and librosa's MIDI-to-Hz conversion. Rendering tests need
Debian's ``timidity`` and ``freepats`` packages (`make freepats`, run by `make test`); without them
they are skipped with that reason. The tests install nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from sot_utils.constants import DATA_F0_RANGE_HZ, N_SAMPLES, SAMPLE_RATE
from sot_utils.study import freepats
from sot_utils.study.baselines import baseline_f0
from sot_utils.study.freepats import (
    SUB_OCTAVE_PROGRAMS,
    UNPITCHED_PROGRAMS,
    check_render_log,
    freepats_instruments,
    generate_freepats_notes,
    load_freepats_notes,
    main,
    midi_file_bytes,
    render_excerpts,
    render_note,
    render_notes,
    timidity_command,
)
from sot_utils.study.freepats_patches import (
    FREEPATS_CONFIG,
    FREEPATS_PATCH_DIR,
    PatchSample,
    patch_key_range,
    read_freepats_config,
    read_patch_samples,
)
from sot_utils.study.real_notes import (
    DEFAULT_INSTRUMENTS,
    GM_FAMILY_NAMES,
    Instrument,
    family_indices,
    load_real_notes,
    midi_to_hz,
    read_real_notes,
    save_real_notes,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def freepats_unavailable() -> str | None:
    """Why FreePats notes cannot be rendered here, or None."""
    if not Path(FREEPATS_CONFIG).is_file():
        return f"FreePats config {FREEPATS_CONFIG} missing; run `make freepats`"
    if shutil.which("timidity") is None:
        return "timidity missing; run `make freepats`"
    return None


SKIP_REASON = freepats_unavailable()
needs_freepats = pytest.mark.skipif(SKIP_REASON is not None, reason=str(SKIP_REASON))

# Three flute notes and the finger bass's two lowest: two families, one timidity process.
SMALL_SET = (Instrument(73, "Flute", 72, 74), Instrument(33, "Electric Bass (finger)", 28, 29))


def cents(estimate_hz, reference_hz):
    return 1200 * np.log2(np.asarray(estimate_hz, dtype=np.float64) / np.asarray(reference_hz, dtype=np.float64))


def spectrum_peak_hz(excerpt: torch.Tensor, lo_hz: float, hi_hz: float) -> float:
    """Frequency of the strongest spectral peak in [lo_hz, hi_hz] (Hann window, zero-padded 16 times)."""
    n = 16 * excerpt.shape[-1]
    power = np.abs(np.fft.rfft(excerpt.numpy() * np.hanning(excerpt.shape[-1]), n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    band = np.flatnonzero((freqs >= lo_hz) & (freqs <= hi_hz))
    return float(freqs[band[np.argmax(power[band])]])


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def gus_patch(samples: list[tuple[int, int, int, int]], data_length: int = 4) -> bytes:
    """A minimal single-instrument, single-layer GUS patch with the given (rate, low, high, root) samples."""
    header = b"GF1PATCH110\0" + b"ID#000002\0" + bytes(60) + bytes([1, 14, 0]) + len(samples).to_bytes(2, "little")
    header += bytes(2 + 4 + 36)
    instrument = bytes(2 + 16 + 4) + bytes([1]) + bytes(40)
    layer = bytes(6) + bytes([len(samples)]) + bytes(40)
    body = b""
    for rate, low, high, root in samples:
        sample = bytes(8) + data_length.to_bytes(4, "little") + bytes(8) + rate.to_bytes(2, "little")
        sample += low.to_bytes(4, "little") + high.to_bytes(4, "little") + root.to_bytes(4, "little")
        sample += bytes(96 - len(sample))
        body += sample + bytes(data_length)
    assert len(header) == 129 and len(instrument) == 63 and len(layer) == 47
    return header + instrument + layer + body


@pytest.fixture(scope="module")
def small_notes():
    return None if SKIP_REASON else generate_freepats_notes(instruments=SMALL_SET, progress=False)


# --------------------------------------------------------------------------------------------
# Config, patches and MIDI files (no package needed)


def test_config_parser_reads_bank_0_only(tmp_path):
    config = write_config(
        tmp_path / "freepats.cfg",
        f"dir {FREEPATS_PATCH_DIR}\n# a comment\ndrumset 0\n 35\tDrum_000/035_Kick_1.pat amp=100\n\n"
        "bank 0\n 0\tTone_000/000_Acoustic_Grand_Piano.pat amp=120 pan=center\n 57\tTone_000/057_Trombone.pat\n",
    )
    parsed = read_freepats_config(config)
    assert parsed.patches == {0: "Tone_000/000_Acoustic_Grand_Piano.pat", 57: "Tone_000/057_Trombone.pat"}
    assert parsed.patch_path(57) == Path(FREEPATS_PATCH_DIR) / "Tone_000/057_Trombone.pat"


@pytest.mark.parametrize(
    "line, message",
    [
        ("source other.cfg", "'source' lines are not accepted"),
        ("soundfont other.sf2", "'soundfont' lines are not accepted"),
        ("bank 0\n 0 %font other.sf2 0 0", "expected `program patch-file"),
        ("map gs2gm 0 0 0 0", "'map' lines are not accepted"),
    ],
)
def test_config_with_instruments_from_elsewhere_is_refused(tmp_path, line, message):
    config = write_config(
        tmp_path / "c.cfg", f"dir {FREEPATS_PATCH_DIR}\n{line}\nbank 0\n 57 Tone_000/057_Trombone.pat\n"
    )
    with pytest.raises(ValueError, match=message):
        read_freepats_config(config)


def test_config_must_name_the_freepats_folder(tmp_path):
    config = write_config(tmp_path / "c.cfg", f"dir {tmp_path}\nbank 0\n 57 Tone_000/057_Trombone.pat\n")
    with pytest.raises(ValueError, match="must name the FreePats patch folder"):
        read_freepats_config(config)


def test_missing_config_refuses_to_render_without_running_timidity(tmp_path, monkeypatch):
    """No fallback on timidity's default config: the renderer stops before any process starts."""

    def no_process(*args, **kwargs):
        raise AssertionError("timidity must not run without the freepats config")

    monkeypatch.setattr(subprocess, "run", no_process)
    absent = tmp_path / "absent.cfg"
    for call in (
        lambda: read_freepats_config(absent),
        lambda: render_notes([57], [48], 100, config=absent),
        lambda: generate_freepats_notes(config=absent, progress=False),
    ):
        with pytest.raises(FileNotFoundError, match="make freepats"):
            call()


def test_missing_timidity_says_how_to_install(tmp_path, monkeypatch):
    config = write_config(tmp_path / "c.cfg", f"dir {FREEPATS_PATCH_DIR}\nbank 0\n 57 Tone_000/057_Trombone.pat\n")
    monkeypatch.setattr(freepats, "TIMIDITY", "no-such-timidity-binary")
    with pytest.raises(RuntimeError, match="make freepats"):
        render_notes([57], [48], 100, config=config)


def test_bad_render_arguments_are_named(tmp_path):
    config = write_config(tmp_path / "c.cfg", f"dir {FREEPATS_PATCH_DIR}\nbank 0\n 57 Tone_000/057_Trombone.pat\n")
    with pytest.raises(ValueError, match="`programs` \\[11\\] have no FreePats patch"):
        render_notes([11], [60], 100, config=config)
    with pytest.raises(ValueError, match="same length"):
        render_notes([57, 57], [48], 100, config=config)
    with pytest.raises(ValueError, match="n_samples"):
        render_notes([57], [48], 0, config=config)
    with pytest.raises(ValueError, match="same shape"):
        render_excerpts(torch.tensor([57, 57]), torch.tensor([48]), config=config, progress=False)


def test_midi_file_holds_one_held_note():
    data = midi_file_bytes(57, 48, 0.5)
    assert data[:4] == b"MThd" and int.from_bytes(data[12:14], "big") == 480
    track = data[22:]
    assert b"\xff\x51\x03\x07\xa1\x20" in track  # tempo 500000 us per beat
    assert b"\x00\xc0\x39" in track and b"\x00\x90\x30\x64" in track  # program 57, note 48 velocity 100
    assert b"\x83\x60\x80\x30\x00" in track  # note-off after 480 ticks (0.5 s at 960 ticks per second)
    assert track.endswith(b"\x00\xff\x2f\x00")
    for args, message in [((128, 48, 0.5), "0..127"), ((57, 128, 0.5), "midi_note"), ((57, 48, 0.0), "duration_s")]:
        with pytest.raises(ValueError, match=message):
            midi_file_bytes(*args)


def test_patch_headers_are_read_and_give_the_key_range(tmp_path):
    samples = [(44100, 65406, 130813, 110000), (44100, 130813, 523252, 261626)]  # C2..C3, C3..C5 (mHz)
    patch = tmp_path / "p.pat"
    patch.write_bytes(gus_patch(samples))
    assert read_patch_samples(patch) == [PatchSample(*s) for s in samples]
    assert patch_key_range(read_patch_samples(patch)) == (36, 72)
    patch.write_bytes(gus_patch(samples)[:-3])
    with pytest.raises(ValueError, match="do not add up"):
        read_patch_samples(patch)
    patch.write_bytes(b"RIFF" + bytes(300))
    with pytest.raises(ValueError, match="not a GUS patch"):
        read_patch_samples(patch)


def test_a_missing_freepats_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make real-notes-freepats"):
        load_freepats_notes(tmp_path / "absent.pt")


def test_cli_refuses_a_folder_as_output(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is a folder" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# The installed package: config and plan (no rendering)


@needs_freepats
def test_the_config_used_is_the_freepats_packages():
    assert FREEPATS_CONFIG == "/etc/timidity/freepats.cfg"
    if shutil.which("dpkg"):
        owner = subprocess.run(["dpkg", "-S", FREEPATS_CONFIG], capture_output=True, text=True)
        assert owner.returncode == 0 and owner.stdout.split(":")[0] == "freepats", owner.stdout + owner.stderr
    command = timidity_command(FREEPATS_CONFIG, ["note.mid"])
    assert command[command.index("-c") + 1] == FREEPATS_CONFIG and command.count("-c") == 1
    assert "-idvv" in command and "-U" in command  # the verbose log of every patch load


@needs_freepats
def test_programs_without_a_freepats_patch_are_skipped():
    config = read_freepats_config()
    instruments, skipped = freepats_instruments()
    programs = [i.program for i in instruments]
    reasons = dict(skipped)
    assert sorted(programs + list(reasons)) == list(range(128))  # each program once
    assert set(programs) <= set(config.patches)
    without_patch = {p for p, why in skipped if why == "no FreePats patch"}
    assert without_patch == set(range(128)) - set(config.patches)
    assert {11, 20} <= without_patch  # the TimGM6mb set's vibraphone and reed organ: not in FreePats
    assert set(UNPITCHED_PROGRAMS) | set(SUB_OCTAVE_PROGRAMS) <= set(reasons)
    assert set(programs) | set(UNPITCHED_PROGRAMS) | set(SUB_OCTAVE_PROGRAMS) == set(config.patches)


@needs_freepats
def test_ranges_are_the_instruments_within_the_patch_keys_and_the_f0_range():
    instruments, _ = freepats_instruments()
    by_program = {i.program: i for i in instruments}
    timgm6mb = {i.program: (i.lowest_midi, i.highest_midi) for i in DEFAULT_INSTRUMENTS}
    for program in set(by_program) & set(timgm6mb):
        assert (by_program[program].lowest_midi, by_program[program].highest_midi) == timgm6mb[program]
    assert (by_program[57].lowest_midi, by_program[57].highest_midi) == (40, 72)
    assert (by_program[14].lowest_midi, by_program[14].highest_midi) == (76, 77)  # the patch starts at E5
    assert (by_program[36].lowest_midi, by_program[36].highest_midi) == (28, 60)  # the patch stops at C4
    f0 = midi_to_hz(torch.tensor([n for i in instruments for n in (i.lowest_midi, i.highest_midi)]))
    assert f0.min() >= DATA_F0_RANGE_HZ[0] and f0.max() <= DATA_F0_RANGE_HZ[1]
    families = {GM_FAMILY_NAMES[i.program // 8] for i in instruments}
    assert len(instruments) == 66 and len(families) == 15 and "sound effects" not in families


@needs_freepats
def test_generate_refuses_instruments_outside_freepats():
    with pytest.raises(ValueError, match="not inside a FreePats program's range"):
        generate_freepats_notes(instruments=(Instrument(11, "Vibraphone", 60, 62),), progress=False)
    with pytest.raises(ValueError, match="not inside a FreePats program's range"):
        generate_freepats_notes(instruments=(Instrument(57, "Trombone", 30, 40),), progress=False)


# --------------------------------------------------------------------------------------------
# Rendering


@needs_freepats
def test_render_log_check_accepts_freepats_and_refuses_anything_else(tmp_path):
    """A real timidity log passes; the same log with another instrument mapping, another file or
    other samples does not."""
    (tmp_path / "note.mid").write_bytes(midi_file_bytes(57, 48, 0.2))
    result = subprocess.run(
        timidity_command(FREEPATS_CONFIG, ["note.mid"]),
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path), "LC_ALL": "C"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    log, config = result.stdout, read_freepats_config()
    check_render_log(log, config, [("note.mid", 57)])
    patch = str(config.patch_path(57))
    tampered = {
        "another mapping": log.replace("Tonebank 0 57: Tone_000/057_Trombone.pat", "Tonebank 0 57: %font other 0 57"),
        "another file": log.replace(f"Trying to open {patch}", "Trying to open /elsewhere/057_Trombone.pat"),
        "other samples": log.replace("Rate/Low/Hi/Root = ", "Rate/Low/Hi/Root = 1", 1),
    }
    for what, text in tampered.items():
        assert text != log, what
        with pytest.raises(RuntimeError, match="may not come from FreePats"):
            check_render_log(text, config, [("note.mid", 57)])
    with pytest.raises(RuntimeError, match="did not play the file"):
        check_render_log(log, config, [("other.mid", 57)])
    with pytest.raises(RuntimeError, match="may not come from FreePats"):
        check_render_log(log, config, [("note.mid", 56)])  # the log is the trombone's, not the trumpet's


@needs_freepats
def test_trombone_midi_48_sounds_near_131_hz():
    """The issue's check: FreePats' trombone (program 58 1-based, 57 0-based) at MIDI 48 is C3, 130.8 Hz."""
    excerpts, _ = render_excerpts(torch.tensor([57]), torch.tensor([48]), progress=False)
    label = float(librosa.midi_to_hz(48))
    assert abs(label - 130.81) < 0.01
    yin = float(baseline_f0("yin", excerpts, SAMPLE_RATE).f0_hz[0])
    peak = spectrum_peak_hz(excerpts[0], label * 2 ** (-1 / 12), label * 2 ** (1 / 12))
    assert abs(cents(yin, label)) < 50, yin
    assert abs(cents(peak, label)) < 50, peak


@needs_freepats
def test_rendering_is_deterministic_and_each_note_independent_of_the_previous():
    alone = render_note(57, 48, 4800)
    assert alone.shape == (4800,) and alone.dtype == torch.float32 and alone.abs().max() > 0
    assert torch.equal(render_note(57, 48, 4800), alone)
    after_other = render_notes([0, 57], [40, 48], 4800)
    assert torch.equal(after_other[1], alone)


# --------------------------------------------------------------------------------------------
# File round trip and CLI


@needs_freepats
def test_generated_examples_have_the_real_notes_layout(small_notes):
    examples, meta = small_notes["examples"], small_notes["meta"]
    assert examples["audio"].shape == (5, N_SAMPLES) and examples["audio"].dtype == torch.float32
    assert examples["midi_note"].tolist() == [72, 73, 74, 28, 29]
    assert examples["program"].tolist() == [73, 73, 73, 33, 33]
    assert examples["family"].tolist() == [9, 9, 9, 4, 4]
    assert examples["family_name"] == ["pipe"] * 3 + ["bass"] * 2
    torch.testing.assert_close(examples["f0_hz"], torch.from_numpy(librosa.midi_to_hz([72, 73, 74, 28, 29])).float())
    assert meta["format_version"] == 1 and meta["sample_rate"] == SAMPLE_RATE and meta["dropped"] == []
    assert meta["soundfont"] == FREEPATS_CONFIG and len(meta["soundfont_sha256"]) == 64
    assert meta["patch_set"] == "freepats" and meta["renderer"].startswith("TiMidity++")
    assert [p["patch"] for p in meta["patches"]] == [
        f"{FREEPATS_PATCH_DIR}/Tone_000/073_Flute.pat",
        f"{FREEPATS_PATCH_DIR}/Tone_000/033_Finger_Bass.pat",
    ]
    assert [11, "no FreePats patch"] in meta["skipped_programs"]


@needs_freepats
def test_load_real_notes_reads_the_freepats_file(small_notes, tmp_path):
    digest = save_real_notes(small_notes, tmp_path / "freepats.pt")
    assert save_real_notes(small_notes, tmp_path / "again.pt") == digest
    loaded = load_real_notes(tmp_path / "freepats.pt")
    for key in ("audio", "f0_hz", "midi_note", "program", "family", "family_name", "instrument", "sample_rate", "meta"):
        assert key in loaded
    torch.testing.assert_close(loaded["audio"].abs().amax(dim=-1), torch.full((5,), 0.9))
    assert list(family_indices(loaded["family_name"])) == ["bass", "pipe"]
    assert read_real_notes(tmp_path / "freepats.pt")["meta"] == small_notes["meta"]
    assert torch.equal(load_freepats_notes(tmp_path / "freepats.pt")["audio"], loaded["audio"])


@needs_freepats
def test_cli_quick_mode_writes_a_loadable_file(tmp_path):
    out = tmp_path / "quick.pt"
    result = subprocess.run(
        [sys.executable, "-m", "sot_utils.study.freepats", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    loaded = load_real_notes(out)
    meta = loaded["meta"]
    assert meta["quick"] is True and meta["soundfont"] == FREEPATS_CONFIG
    n_planned = sum(len({i["lowest_midi"], i["highest_midi"]}) for i in meta["instruments"])
    assert loaded["audio"].shape == (n_planned - len(meta["dropped"]), N_SAMPLES)
    assert DATA_F0_RANGE_HZ[0] <= loaded["f0_hz"].min() and loaded["f0_hz"].max() <= DATA_F0_RANGE_HZ[1]
    assert set(loaded["family_name"]) <= set(GM_FAMILY_NAMES)
