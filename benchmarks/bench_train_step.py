"""Time one training step (batch 64), ours against the reference step layout, in the same run.

- reference layout: the CQT recomputed from audio every step (nnAudio), the encoder with its
  Toeplitz head as a single-channel convolution (PESTO / reference), the DDSP synth as the
  reference computes it (amplitudes overlap-added with `fold`, one float32 phase cumsum per
  harmonic, spec §4), and the SOT term computed with the authors' sort-based
  `sot.losses.wasserstein_1d` (their package);
- reference layout, encoder: conv1d layers in [N, channels, bins] layout over all 1024 frames
  at once, as the reference's PyTorch modules run;
- ours (``sot_utils.train.train_step``): CQT cached once per dataset, micro-batches of 16
  examples with the encoder's activations channels-last, the Toeplitz head as a matrix product,
  our synth (window upsampling as one matrix product, harmonic phases from the fundamental's),
  our sort-free shared-support SOT (the compiled linear merge on CPU).

Both use the same model, optimiser, batch and MSS term. The two steps run in turn and each time is
the median over the repeats, so that the ratio holds on a busy machine; a profile of our step is
printed too.

Usage: python benchmarks/bench_train_step.py [--groups SOT-2048 MSS-Lin] [--repeats 11]
Writes its numbers under the key "train_step" of benchmarks/results.json (other keys, and the
last numbers of groups not timed in this run, are kept).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from sot.losses import wasserstein_1d as authors_wasserstein_1d

from sot_utils.autoencoder import HarmonicAutoencoder, cqt_features
from sot_utils.data import generate_harmonic_dataset, peak_normalize
from sot_utils.losses import PAPER_GROUPS, SpectralOTLoss, WeightedLossSum, _safe_divide, paper_loss
from sot_utils.encoder import EncoderOutput, f0_from_logits
from sot_utils.spectral import CQT
from sot_utils.synth import exp_sigmoid
from sot_utils.train import CPU_MICRO_BATCH, train_step


class SortBasedSOT(torch.nn.Module):
    """The SOT term as the reference computes it: same spectra, the authors' sort-based W_p."""

    def __init__(self, ours: SpectralOTLoss):
        super().__init__()
        self.ours = ours

    def forward(self, target, estimate):
        spec_t, spec_e = self.ours.spectra(target), self.ours.spectra(estimate)
        mass = spec_t.sum(-1, keepdim=True)
        a, b = _safe_divide(spec_t, mass), _safe_divide(spec_e, mass if self.ours.mode == "cut" else spec_e.sum(-1, keepdim=True))
        n = a.shape[-1]
        x = self.ours.positions_0.to(a.dtype).expand(a.shape[0] * a.shape[1], n)
        w = authors_wasserstein_1d(x, x, a.reshape(-1, n), b.reshape(-1, n), p=self.ours.p, limit_quantile_range=self.ours.mode == "cut")
        return w.mean()


def reference_loss(group: str) -> torch.nn.Module:
    loss = paper_loss(group)
    if isinstance(loss, WeightedLossSum):
        loss.terms["sot"] = SortBasedSOT(loss.terms["sot"])
    return loss


def reference_synth(f0_hz: torch.Tensor, amplitudes: torch.Tensor, n_samples: int = 4096, sample_rate: int = 16000) -> torch.Tensor:
    """DDSP's harmonic synth as the reference runs it (spec §4): ``[B, T]`` Hz, ``[B, T, H]`` -> ``[B, N]``."""
    batch, n_frames, n_harmonics = amplitudes.shape
    ratios = torch.arange(1, n_harmonics + 1, dtype=f0_hz.dtype)
    amplitudes = amplitudes * (f0_hz[..., None] * ratios < sample_rate / 2)
    hop = n_samples // n_frames
    frames = torch.cat([amplitudes, amplitudes[:, -1:]], dim=1)  # add_endpoint: 17 frames
    window = torch.hann_window(2 * hop)
    # one windowed block of 2 hop samples per frame, [B H, 2 hop, T + 1], overlap-added with stride hop
    blocks = (frames.transpose(1, 2)[..., None] * window).transpose(2, 3).reshape(batch * n_harmonics, 2 * hop, n_frames + 1)
    length = hop * (n_frames + 2)
    audio = torch.nn.functional.fold(blocks, (1, length), (1, 2 * hop), stride=(1, hop))
    amp_env = audio.reshape(batch, n_harmonics, length)[..., hop:-hop].transpose(1, 2)
    f0_env = torch.nn.functional.interpolate(f0_hz[:, None], size=n_samples, mode="linear", align_corners=False)[:, 0, :, None]
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


def timed(fn, repeats):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def timed_alternating(first, second, repeats):
    """Median seconds of ``first`` and of ``second``, run in turn ``repeats`` times each, so
    that a slow patch of a shared machine hits both; medians ignore the odd interrupted run."""
    first(), second()  # warm-up
    times = ([], [])
    for _ in range(repeats):
        for fn, out in zip((first, second), times):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def bench_group(group, audio, cqt, repeats):
    torch.manual_seed(0)
    model = HarmonicAutoencoder()
    torch.manual_seed(0)
    ref_model = convolutional_toeplitz(HarmonicAutoencoder())
    ours_loss, ref_loss, cqt_module = paper_loss(group), reference_loss(group), CQT()
    with torch.no_grad():
        model.eval(), ref_model.eval()
        estimate, ref_estimate = model(cqt)[0], ref_model(cqt_module(audio[:, :-1]))[0]
        values = float(ours_loss(audio, estimate)), float(ref_loss(audio, ref_estimate))
        model.train(), ref_model.train()

    def stepper(net, loss_fn, features):
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4, weight_decay=1e-4)

        def step():
            estimate, _ = net(features())
            loss = loss_fn(audio, estimate)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return step

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    reference, ours = timed_alternating(stepper(ref_model, ref_loss, lambda: cqt_module(audio[:, :-1])),
                                        lambda: train_step(model, ours_loss, optimizer, audio, cqt, CPU_MICRO_BATCH), repeats)
    return {"reference_layout_s": round(reference, 3), "ours_s": round(ours, 3), "speedup": round(reference / ours, 2),
            "loss_ours": values[0], "loss_reference_layout": values[1]}


def profile_ours(audio, cqt, repeats):
    """Where our SOT-2048 step spends its time (forward and backward of each stage)."""
    torch.manual_seed(0)
    model = HarmonicAutoencoder()
    loss_fn = paper_loss("SOT-2048")
    parts = {}
    parts["encoder forward"] = timed(lambda: model.encoder(cqt), repeats)
    out = model.encoder(cqt)
    from sot_utils.synth import harmonic_synth
    parts["synth forward"] = timed(lambda: harmonic_synth(out.f0_hz, out.amplitudes, 4096, 16000), repeats)
    estimate = harmonic_synth(out.f0_hz, out.amplitudes, 4096, 16000)
    parts["MSS forward"] = timed(lambda: loss_fn.terms["mss"](audio, estimate), repeats)
    parts["SOT forward"] = timed(lambda: loss_fn.terms["sot"](audio, estimate), repeats)

    def full():
        e, _ = model(cqt)
        loss_fn(audio, e).backward()

    parts["forward + backward, whole batch at once"] = timed(full, repeats)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    parts[f"train_step, micro-batches of {CPU_MICRO_BATCH}"] = timed(lambda: train_step(model, loss_fn, optimizer, audio, cqt, CPU_MICRO_BATCH), repeats)
    return {k: round(v, 3) for k, v in parts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", nargs="*", default=list(PAPER_GROUPS))
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = parser.parse_args()
    dataset = generate_harmonic_dataset(seed=0, size=64, progress=False)
    audio = peak_normalize(dataset["examples"]["audio"])
    cqt = cqt_features(audio, progress=False)
    results = {"what": "one Adam step, batch 64, CPU", "threads": torch.get_num_threads(), "torch": torch.__version__, "groups": {}}
    for group in args.groups:
        results["groups"][group] = bench_group(group, audio, cqt, args.repeats)
        print(group, results["groups"][group], flush=True)
    results["profile_ours_SOT-2048"] = profile_ours(audio, cqt, args.repeats)
    print("profile", results["profile_ours_SOT-2048"])
    stored = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous = stored.get("train_step", {}).get("groups", {})
    # a run over some groups keeps the others' last measurements
    results["groups"] = {**{g: v for g, v in previous.items() if g not in results["groups"]}, **results["groups"]}
    results["groups"] = {g: results["groups"][g] for g in PAPER_GROUPS if g in results["groups"]}
    stored["train_step"] = results
    args.out.write_text(json.dumps(stored, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
