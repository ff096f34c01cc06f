"""Interactive loss-landscape explorer (ipywidgets + matplotlib).

Move the target f0, the number of harmonics, the loss and its options: the curve of the loss
against the candidate f0 is recomputed and redrawn. Display it in a notebook with
``LossExplorer()`` as the last expression of a cell.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import torch
from IPython.display import Image, clear_output, display
from matplotlib.figure import Figure

from ..losses import MultiScaleSpectralLoss, SpectralOTLoss
from .landscape import decaying_amplitudes, harmonic_tones, sweep, tone_family

LOSS_KINDS = ("SOT", "MSS (lin)", "MSS (log)", "single-scale (lin)")


class LossExplorer:
    """Loss against candidate f0 around a harmonic target, driven by widgets.

    Args:
        n_candidates: candidate f0 values on the curve.
        span_octaves: candidates span ``target * 2^[-span, +span]``.

    Attributes:
        controls: the widgets by name (``target_f0_hz``, ``n_harmonics``, ``loss``, ``n_fft``,
            ``p``, ``root``, ``mode``, ``frequency_scale``, ``norm``).
        figure, line: the matplotlib figure and the curve's line (its data is the current curve).
        n_updates: how many times the curve has been recomputed.
    """

    def __init__(self, n_candidates: int = 161, span_octaves: float = 1.0):
        self.n_candidates, self.span_octaves = n_candidates, span_octaves
        style = {"description_width": "initial"}
        self.controls = {
            "target_f0_hz": widgets.FloatLogSlider(
                value=440.0,
                base=10,
                min=np.log10(40),
                max=np.log10(2000),
                step=0.01,
                description="target f0 (Hz)",
                continuous_update=False,
                style=style,
            ),
            "n_harmonics": widgets.IntSlider(value=1, min=1, max=8, description="harmonics", continuous_update=False),
            "loss": widgets.Dropdown(options=LOSS_KINDS, value="SOT", description="loss"),
            "n_fft": widgets.Dropdown(options=[512, 1024, 2048], value=2048, description="n_fft"),
            "p": widgets.Dropdown(options=[1, 2], value=2, description="SOT p"),
            "root": widgets.Checkbox(value=True, description="SOT root (W_p)"),
            "mode": widgets.Dropdown(options=["cut", "balanced"], value="cut", description="SOT mode"),
            "frequency_scale": widgets.Dropdown(options=["linear", "log"], value="linear", description="SOT freq."),
            "norm": widgets.Dropdown(options=["l1", "l2"], value="l1", description="MSS norm"),
        }
        self.figure = Figure(figsize=(8, 3.6))
        self.ax = self.figure.subplots()
        (self.line,) = self.ax.plot([], [], color="tab:green", linewidth=2)
        self.marker = self.ax.axvline(440.0, color="black", linestyle=":", label="target f0")
        self.ax.set(xscale="log", xlabel="candidate f0 (Hz)", ylabel="loss")
        self.ax.grid(alpha=0.3, which="both")
        self.output = widgets.Output()
        self.n_updates = 0
        for control in self.controls.values():
            control.observe(lambda _change: self.update(), names="value")
        self.update()

    def build_loss(self):
        """The per-example loss the current widget values describe."""
        c = {name: control.value for name, control in self.controls.items()}
        if c["loss"] == "SOT":
            return SpectralOTLoss(
                n_fft=c["n_fft"],
                p=c["p"],
                root=c["root"],
                mode=c["mode"],
                frequency_scale=c["frequency_scale"],
                reduction="none",
            )
        if c["loss"] == "single-scale (lin)":
            return MultiScaleSpectralLoss(fft_sizes=(c["n_fft"],), norm=c["norm"], reduction="none")
        log = c["loss"] == "MSS (log)"
        return MultiScaleSpectralLoss(
            lin_weight=0.0 if log else 1.0, log_weight=1.0 if log else 0.0, norm=c["norm"], reduction="none"
        )

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Candidate f0 (Hz) and loss values for the current widget values."""
        f0 = float(self.controls["target_f0_hz"].value)
        amplitudes = decaying_amplitudes(self.controls["n_harmonics"].value)
        octaves = torch.linspace(-self.span_octaves, self.span_octaves, self.n_candidates)
        candidates = f0 * 2.0**octaves
        target = harmonic_tones(torch.tensor([f0]), amplitudes)
        frame = sweep(self.build_loss(), target, tone_family("f0", f0, amplitudes), candidates)
        return frame["value"].to_numpy(), frame["loss"].to_numpy()

    def update(self) -> None:
        """Recompute the curve and redraw."""
        x, y = self.curve()
        self.line.set_data(x, y)
        self.marker.set_xdata([self.controls["target_f0_hz"].value] * 2)
        self.ax.relim()
        self.ax.autoscale_view()
        self.ax.set_title(f"{self.controls['loss'].value}: loss against candidate f0")
        self.n_updates += 1
        with self.output:
            clear_output(wait=True)
            display(Image(data=self.png(), format="png"))

    def png(self) -> bytes:
        """The figure as PNG bytes.

        Displayed as an image rather than as the Figure object: a kernel that never imported
        pyplot (a standalone page, e.g. ``notebooks/explorer.ipynb`` under Voila) has no PNG
        formatter for figures and would show only their text repr.
        """
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()

    def widget(self) -> widgets.Widget:
        """The controls and the plot, as one widget."""
        names = list(self.controls)
        rows = [widgets.HBox([self.controls[n] for n in names[i : i + 3]]) for i in range(0, len(names), 3)]
        return widgets.VBox([*rows, self.output])

    def _ipython_display_(self):
        display(self.widget())
