"""Time one training step (batch 64), ours against the reference step layout, in the same run.

- reference layout: the CQT recomputed from audio every step (nnAudio), the encoder with its
  Toeplitz head as a single-channel convolution (PESTO / reference), the DDSP synth as the
  reference computes it (amplitudes overlap-added with `fold`, one float32 phase cumsum per
  harmonic, docs/method.md#method-synth), the STFT magnitudes of both loss terms differentiated by
  autograd through ``torch.stft(...).abs()`` (as the reference's code), and the SOT term computed
  with the authors' sort-based `sot.losses.wasserstein_1d` (their package);
- reference layout, encoder: conv1d layers in [N, channels, bins] layout over all 1024 frames
  at once, as the reference's PyTorch modules run;
- ours (``sot_utils.training.train.train_step``): CQT cached once per dataset, micro-batches of 16
  examples on CPU (the whole batch on a GPU, as ``sot_utils.training.train``) with the encoder's
  activations channels-last, on CPU in float32 the prefilter convolution and its LeakyReLU as one
  oneDNN call with a hand-split backward (input gradient as a forward convolution, weight
  gradient alone, bias gradient as a sum) and dropout masks applied as products, the Toeplitz
  head as a matrix product, our synth (window upsampling as one matrix product, harmonic phases
  from the fundamental's), STFT magnitudes with a written-out backward pass
  (``sot_utils.spectral.stft_magnitude``), our sort-free shared-support SOT (the compiled linear
  merge on CPU, tensor operations on a GPU).

Both use the same model, optimiser, batch and loss terms (the same functions of the audio). The two
steps run in turn and each time is the median over the repeats, so that the ratio holds on a busy
machine; a profile of our step is recorded too (CPU). The losses of both layouts on the untrained
model are checked to agree (the synths differ in float32 rounding, hence a 1 % tolerance).

Usage: python benchmarks/bench_train_step.py [--groups SOT-2048 MSS-Lin] [--repeats 11] [--batch 64]
       [--device cpu]
Writes its numbers under the key "train_step" of benchmarks/results.json (other keys, and the
last numbers of groups not timed in this run, are kept); ``python -m benchmarks.run_all --only
train_step`` runs the same function (:func:`run`) as a section of the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from sot.losses import wasserstein_1d as authors_wasserstein_1d

from benchmarks import comparison, describe, harmonic_audio, log, section_meta, time_interleaved
from sot_utils import losses as loss_module
from sot_utils.autoencoder import HarmonicAutoencoder, cqt_features
from sot_utils.encoder import EncoderOutput, f0_from_logits
from sot_utils.losses import SpectralOTLoss, WeightedLossSum
from sot_utils.spectral import CQT, complex_stft
from sot_utils.synth import exp_sigmoid
from sot_utils.training.loss_config import PAPER_GROUPS, paper_loss
from sot_utils.training.train import CPU_MICRO_BATCH, train_step
from sot_utils.transport import _safe_divide

PAPER_STEPS = 22_000
"""Training steps of one of the paper's runs (runs per hour = 3600 / (seconds per step x this))."""
LOSS_RTOL = 1e-6
"""Tolerance on the two layouts' losses, both evaluated in float64 (:func:`layout_values`;
measured: 6e-9 at most for MSS-Lin, MSS-LogLin and SOT-NoCut). In float32 the reference's synth,
which accumulates each harmonic's phase over 4096 samples, moves MSS-LogLin's log term by 0.12 %
on a CPU and 1.1 % on an H100, while ours stays within 1e-7 of the float64 value."""
CUT_LOSS_RTOL = 5e-3
"""The same for the groups whose SOT has the frequency cutoff (measured: 1.1e-3 at most, batch
64): where rounding puts the target's mass a few ulp above 1, the reference drops a whole segment
of the transport (ours clips the mass at 1), which moves single rows by up to 1.5 %."""


def loss_rtol(group: str) -> float:
    """:data:`CUT_LOSS_RTOL` for the groups with the cutoff, else :data:`LOSS_RTOL`."""
    loss = paper_loss(group)
    cut = isinstance(loss, WeightedLossSum) and loss.terms["sot"].mode == "cut"
    return CUT_LOSS_RTOL if cut else LOSS_RTOL


TABLE = "one Adam step"


class SortBasedSOT(torch.nn.Module):
    """The SOT term as the reference computes it: same spectra, the authors' sort-based W_p."""

    def __init__(self, ours: SpectralOTLoss):
        super().__init__()
        self.ours = ours

    def forward(self, target, estimate):
        spec_t, spec_e = self.ours.spectra(target), self.ours.spectra(estimate)
        mass = spec_t.sum(-1, keepdim=True)
        a, b = (
            _safe_divide(spec_t, mass),
            _safe_divide(spec_e, mass if self.ours.mode == "cut" else spec_e.sum(-1, keepdim=True)),
        )
        n = a.shape[-1]
        x = self.ours.positions_0.to(a.dtype).expand(a.shape[0] * a.shape[1], n)
        w = authors_wasserstein_1d(
            x, x, a.reshape(-1, n), b.reshape(-1, n), p=self.ours.p, limit_quantile_range=self.ours.mode == "cut"
        )
        return w.mean()


@contextlib.contextmanager
def autograd_stft_magnitudes():
    """Inside the block the losses take STFT magnitudes as ``|torch.stft(...)|`` with autograd's
    backward pass (the reference's way), instead of ``stft_magnitude``'s written-out one."""
    original = loss_module.stft_magnitude
    loss_module.stft_magnitude = lambda audio, *setting: complex_stft(audio, *setting).abs()
    try:
        yield
    finally:
        loss_module.stft_magnitude = original


def nnaudio_cqt(cqt: CQT, audio: torch.Tensor) -> torch.Tensor:
    """The CQT as the reference computes it: nnAudio's strided convolution with every bin's
    32768-tap kernel (ours, :class:`sot_utils.spectral.CQT`, takes the same sums octave by octave)."""
    return cqt.transform(audio).transpose(-1, -2)


def reference_loss(group: str) -> torch.nn.Module:
    loss = paper_loss(group)
    if isinstance(loss, WeightedLossSum):
        loss.terms["sot"] = SortBasedSOT(loss.terms["sot"])
    return loss


def reference_synth(
    f0_hz: torch.Tensor, amplitudes: torch.Tensor, n_samples: int = 4096, sample_rate: int = 16000
) -> torch.Tensor:
    """DDSP's harmonic synth as the reference runs it (docs/method.md#method-synth).

    ``[B, T]`` Hz, ``[B, T, H]`` -> ``[B, N]``."""
    batch, n_frames, n_harmonics = amplitudes.shape
    ratios = torch.arange(1, n_harmonics + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    amplitudes = amplitudes * (f0_hz[..., None] * ratios < sample_rate / 2)
    hop = n_samples // n_frames
    frames = torch.cat([amplitudes, amplitudes[:, -1:]], dim=1)  # add_endpoint: 17 frames
    window = torch.hann_window(2 * hop, dtype=amplitudes.dtype, device=amplitudes.device)
    # one windowed block of 2 hop samples per frame, [B H, 2 hop, T + 1], overlap-added with stride hop
    blocks = (
        (frames.transpose(1, 2)[..., None] * window).transpose(2, 3).reshape(batch * n_harmonics, 2 * hop, n_frames + 1)
    )
    length = hop * (n_frames + 2)
    audio = torch.nn.functional.fold(blocks, (1, length), (1, 2 * hop), stride=(1, hop))
    amp_env = audio.reshape(batch, n_harmonics, length)[..., hop:-hop].transpose(1, 2)
    f0_env = torch.nn.functional.interpolate(f0_hz[:, None], size=n_samples, mode="linear", align_corners=False)[
        :, 0, :, None
    ]
    freq_env = f0_env * ratios
    amp_env = amp_env * (freq_env < sample_rate / 2)
    phase = torch.cumsum(2 * torch.pi * freq_env / sample_rate, dim=1)
    return (amp_env * torch.sin(phase)).sum(-1)


def reference_encoder(encoder, cqt: torch.Tensor) -> EncoderOutput:
    """The encoder as the reference runs it: conv1d layers in [N, channels, bins] layout over all
    frames at once, the Toeplitz head as ``conv1d`` with a 1139-tap kernel (same weights)."""
    batch, n_frames, n_bins = cqt.shape
    x = encoder.conv_in(encoder.norm(cqt.reshape(batch * n_frames, 1, n_bins)))
    for prefilter in encoder.prefilters:
        x = x + prefilter(x)
    features = encoder.pointwise(x).flatten(1)
    head = encoder.f0_head
    logits = torch.nn.functional.conv1d(features.unsqueeze(1), head.weight, padding=head.out_features - 1).squeeze(1)
    logits = logits.reshape(batch, n_frames, n_bins)
    amplitudes = exp_sigmoid(encoder.amplitude_head(features)).reshape(batch, n_frames, -1)
    f0_hz = f0_from_logits(logits, encoder.temperature, encoder.fmin_hz, encoder.fmax_hz)
    return EncoderOutput(f0_hz=f0_hz, amplitudes=amplitudes, logits=logits)


def convolutional_toeplitz(model: HarmonicAutoencoder) -> HarmonicAutoencoder:
    """The reference's layout of the whole model: :func:`reference_encoder`, :func:`reference_synth`."""

    def forward(cqt):
        out = reference_encoder(model.encoder, cqt)
        return reference_synth(out.f0_hz, out.amplitudes), out

    model.forward = forward
    return model


def timed(fn, repeats, device="cpu"):
    """Median seconds of ``fn`` over ``repeats`` runs after one warm-up."""
    return time_interleaved({"fn": fn}, repeats, device=device)["fn"]


def timed_alternating(first, second, repeats):
    """Median seconds of ``first`` and of ``second``, run in turn ``repeats`` times each, so
    that a slow patch of a shared machine hits both; medians ignore the odd interrupted run."""
    times = time_interleaved({"first": first, "second": second}, repeats)
    return times["first"], times["second"]


def runs_per_hour(seconds_per_step: float, steps: int = PAPER_STEPS) -> float:
    """Whole training runs of ``steps`` steps per hour, one run alone on the machine."""
    return 3600.0 / (seconds_per_step * steps)


def load_batch(batch_size: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` tones of the synthetic set (seed 0) and their CQT frames, on ``device``."""
    audio = harmonic_audio(batch_size, seed=0)
    cqt = cqt_features(audio, progress=False)
    return audio.to(device), cqt.to(device)


def default_micro_batch(batch_size: int, device: str) -> int:
    """As ``sot_utils.training.train``: micro-batches of 16 on CPU, the whole batch on a GPU."""
    return CPU_MICRO_BATCH if torch.device(device).type == "cpu" else batch_size


def layout_values(group: str, audio: torch.Tensor, cqt: torch.Tensor) -> dict[str, float]:
    """Both layouts' losses on the untrained model (seed 0, as :func:`bench_group` builds it),
    in float64: the two layouts compute one function, which float32 rounding would blur."""
    dtype, device = torch.float64, audio.device
    torch.manual_seed(0)
    model = HarmonicAutoencoder().to(device, dtype).eval()
    torch.manual_seed(0)
    ref_model = convolutional_toeplitz(HarmonicAutoencoder().to(device, dtype)).eval()
    audio64 = audio.to(dtype)
    with torch.no_grad():
        estimate = model(cqt.to(dtype))[0]
        ref_estimate = ref_model(nnaudio_cqt(CQT().to(device, dtype), audio64[:, :-1]))[0]
        return {
            "reference layout": float(reference_loss(group).to(device, dtype)(audio64, ref_estimate)),
            "ours": float(paper_loss(group).to(device, dtype)(audio64, estimate)),
        }


def bench_group(group, audio, cqt, repeats, device="cpu", micro_batch=None) -> dict:
    """One Adam step of ``group``: reference layout against ours (a comparison record, see
    :mod:`benchmarks`), with the losses of both on the untrained model and runs per hour."""
    micro_batch = micro_batch or default_micro_batch(len(audio), device)
    torch.manual_seed(0)
    model = HarmonicAutoencoder().to(device)
    torch.manual_seed(0)
    ref_model = convolutional_toeplitz(HarmonicAutoencoder().to(device))
    ours_loss, ref_loss, cqt_module = paper_loss(group).to(device), reference_loss(group).to(device), CQT().to(device)
    values = layout_values(group, audio, cqt)

    def stepper(net, loss_fn, features):
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4)

        def step():
            with autograd_stft_magnitudes():
                estimate, _ = net(features())
                loss = loss_fn(audio, estimate)
                optimizer.zero_grad()
                loss.backward()
            optimizer.step()

        return step

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    seconds = time_interleaved(
        {
            "reference layout": stepper(ref_model, ref_loss, lambda: nnaudio_cqt(cqt_module, audio[:, :-1])),
            "ours": lambda: train_step(model, ours_loss, optimizer, audio, cqt, micro_batch),
        },
        repeats,
        device=device,
    )
    return comparison(
        seconds,
        "reference layout",
        loss_rtol(group),
        values=values,
        value_dtype="float64",
        micro_batch=micro_batch,
        runs_per_hour={name: round(runs_per_hour(s), 4) for name, s in seconds.items()},
    )


def profile_ours(audio, cqt, repeats, device="cpu") -> dict:
    """Where our SOT-2048 step spends its time (forward of each stage, then whole steps), ms."""
    from sot_utils.synth import harmonic_synth

    torch.manual_seed(0)
    model = HarmonicAutoencoder().to(device)
    loss_fn = paper_loss("SOT-2048").to(device)
    parts = {}
    parts["encoder forward"] = timed(lambda: model.encoder(cqt), repeats, device)
    out = model.encoder(cqt)
    parts["synth forward"] = timed(lambda: harmonic_synth(out.f0_hz, out.amplitudes, 4096, 16000), repeats, device)
    estimate = harmonic_synth(out.f0_hz, out.amplitudes, 4096, 16000)
    parts["MSS forward"] = timed(lambda: loss_fn.terms["mss"](audio, estimate), repeats, device)
    parts["SOT forward"] = timed(lambda: loss_fn.terms["sot"](audio, estimate), repeats, device)

    def full():
        e, _ = model(cqt)
        loss_fn(audio, e).backward()

    parts["forward + backward, whole batch at once"] = timed(full, repeats, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    micro = default_micro_batch(len(audio), device)
    parts[f"train_step, micro-batches of {micro}"] = timed(
        lambda: train_step(model, loss_fn, optimizer, audio, cqt, micro), repeats, device
    )
    return {k: round(v * 1e3, 2) for k, v in parts.items()}


def run(
    groups=PAPER_GROUPS,
    repeats: int = 11,
    batch_size: int = 64,
    device: str = "cpu",
    profile: bool = True,
    quick: bool = False,
    section: str = "train_step",
) -> dict:
    """Time one step of each group, ours against the reference layout; the suite's record.

    Returns ``{"what", "meta", "tables": {"train step": {group: comparison record}},
    "profile_ours_SOT-2048_ms": {stage: ms}}`` (the profile only with ``profile``).
    """
    unknown = [g for g in groups if g not in PAPER_GROUPS]
    if unknown:
        raise ValueError(f"unknown groups {unknown}; the paper's groups are {list(PAPER_GROUPS)}")
    device = str(torch.device(device))
    audio, cqt = load_batch(batch_size, device)
    result = {
        "what": f"one Adam step (forward, backward, update) of the autoencoder, batch {batch_size}, {device}; "
        f"runs per hour: {PAPER_STEPS} steps, one run alone",
        "meta": section_meta(device, repeats, quick, batch_size=batch_size),
        "tables": {TABLE: {}},
    }
    for group in groups:
        record = bench_group(group, audio, cqt, repeats, device)
        result["tables"][TABLE][group] = record
        log(section, f"{group}: {describe(record)}")
    if profile:
        result["profile_ours_SOT-2048_ms"] = profile_ours(audio, cqt, repeats, device)
        log(section, f"profile of our SOT-2048 step (ms): {result['profile_ours_SOT-2048_ms']}")
    return result


def _from_legacy(entry: dict) -> dict:
    """A group's numbers as the earlier version of this script stored them, as a comparison record."""
    seconds = {"reference layout": entry["reference_layout_s"], "ours": entry["ours_s"]}
    values = {"reference layout": entry["loss_reference_layout"], "ours": entry["loss_ours"]}
    # that version compared float32 losses, which the reference's float32 synth blurs by 0.12 %
    return comparison(
        seconds,
        "reference layout",
        1e-2,
        values=values,
        value_dtype="float32",
        runs_per_hour={name: round(runs_per_hour(s), 4) for name, s in seconds.items()},
    )


def previous_groups(stored: dict, batch_size: int, device: str) -> dict:
    """The groups of a stored ``train_step`` record measured with the same batch and device."""
    if "tables" in stored:
        meta = stored.get("meta", {})
        same = meta.get("batch_size") == batch_size and meta.get("machine", {}).get("device") == device
        return dict(stored["tables"].get(TABLE, {})) if same else {}
    if "groups" in stored and batch_size == 64 and device == "cpu":  # the earlier layout: batch 64, CPU
        return {g: _from_legacy(v) for g, v in stored["groups"].items()}
    return {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--groups",
        nargs="+",
        default=list(PAPER_GROUPS),
        choices=PAPER_GROUPS,
        metavar="GROUP",
        help=f"groups to time (default: all): {', '.join(PAPER_GROUPS)}",
    )
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--batch", type=int, default=64, help="batch size (64)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    results = run(args.groups, args.repeats, args.batch, args.device, profile=args.device == "cpu")
    stored = json.loads(args.out.read_text()) if args.out.exists() else {}
    # a run over some groups keeps the others' last measurements (same batch and device)
    groups = {
        **previous_groups(stored.get("train_step", {}), args.batch, str(torch.device(args.device))),
        **results["tables"][TABLE],
    }
    results["tables"][TABLE] = {g: groups[g] for g in PAPER_GROUPS if g in groups}
    stored["train_step"] = results
    args.out.write_text(json.dumps(stored, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
