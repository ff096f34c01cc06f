"""The loss-landscape explorer: an instrument for teaching transport losses (``make explorer``).

A harmonic target tone (f0, number of harmonics, spectral tilt) is compared with candidates that
share its harmonics at other f0, from an octave below to an octave above. The page shows:

- several losses at once against candidate f0, each min-max normalised and toggleable: SOT with
  its options, MSS on linear or log magnitudes, a single-scale loss, and the paper's seven group
  losses (:func:`sot_utils.training.loss_config.paper_loss`);
- under the curves, the sign of each loss's derivative with respect to the candidate's f0 (green:
  gradient descent moves toward the target; red: away from it);
- a chosen candidate: the target's and its spectra, the transport plan between them (arcs), their
  CDFs and quantile functions, and both tones as audio players;
- a gradient-descent run from the candidate under the selected loss (Adam on ``log2 f0``, as
  :func:`sot_utils.study.landscape.fit_f0`), drawn as its path on the curve;
- a heat map of the selected loss over candidate f0 and a second synthesizer parameter (number of
  harmonics, or spectral tilt).

This module is the page (:class:`LossExplorer`: its widgets, figures and their updates). The
curves are computed from stored spectra, which makes them quick
(:mod:`sot_utils.study.explorers.landscape_curves` says how); the other views' data come from
:mod:`sot_utils.study.explorers.landscape_views`.

Display it in a notebook with ``LossExplorer().widget()``; ``notebooks/explorer.ipynb`` is the page.
"""

from __future__ import annotations

import math
import time
from functools import partial

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, LogNorm
from torch import nn

from ...constants import DATA_F0_RANGE_HZ, DATA_MAX_HARMONICS, SAMPLE_RATE, SUCCESS_CENTS
from ...validation import check_bool, check_int
from ..landscape import harmonic_tones
from .landscape_curves import (
    GRID_STEPS_PER_OCTAVE,
    GROUP_LOSSES,
    LOSS_NAMES,
    SPAN_OCTAVES,
    CandidateSpectra,
    Curve,
    LossOptions,
    build_explorer_loss,
    candidate_grid,
    loss_curve,
    tilt_amplitudes,
)
from .landscape_views import (
    DESCENT_STEPS,
    HEAT_PARAMETERS,
    DescentPath,
    descent_path,
    heat_map,
    listening_tone,
    transport_view,
)
from .widgets import (
    audio_player,
    canvas_png,
    cents_between,
    figure_png,
    format_cents,
    format_hz,
    hz_axis,
    new_figure,
    png_image,
    single_threaded,
    wav_bytes,
    wrapping_row,
)

__all__ = ["DEFAULT_ENABLED", "LOSS_COLORS", "SIGN_COLORS", "LossExplorer"]

DEFAULT_ENABLED = ("SOT", "MSS (lin)", "MSS (log)")
"""The curves drawn when the page opens."""

SIGN_COLORS = ListedColormap(["#d62728", "#dddddd", "#2ca02c"])  # away, flat, toward
LOSS_COLORS = dict(
    zip(
        LOSS_NAMES,
        (
            "tab:green",
            "tab:red",
            "black",
            "tab:blue",
            "tab:orange",
            "tab:purple",
            "darkgreen",
            "tab:cyan",
            "tab:olive",
            "tab:brown",
            "tab:pink",
        ),
    )
)


# --------------------------------------------------------------------------------------------
# The page


class LossExplorer:
    """The loss-landscape page: widgets, figures and their updates (see the module docstring).

    Args:
        steps_per_octave: density of the candidate grid (:func:`candidate_grid`).
        descent_steps: steps of a gradient-descent run.

    Attributes:
        controls: widgets by name: ``target_f0_hz``, ``n_harmonics``, ``tilt_db`` (the target);
            ``loss`` (the selected loss: the thick curve, the descent's and the heat map's loss);
            ``n_fft``, ``p``, ``root``, ``mode``, ``frequency_scale``, ``framing`` (SOT), ``norm``
            (MSS and single-scale); ``candidate_cents``; ``heat_parameter``.
        toggles: a checkbox per loss name: is its curve drawn.
        descend: the button that runs gradient descent from the candidate.
        images: ``curve``, ``candidate`` and ``heat`` figures as image widgets (PNG).
        audio: ``target`` and ``candidate`` audio players.
        readout: the numbers of the current state (HTML).
        curves: the drawn curves by loss name (:class:`Curve`); ``lines``: their matplotlib lines.
        path: the last :class:`DescentPath` (None when there is none for the current curves).
        n_updates: how many times the curves have been recomputed.
        timings: seconds the last updates took, by view (``curves``, ``update``, ``candidate``).
    """

    @single_threaded
    def __init__(self, steps_per_octave: int = GRID_STEPS_PER_OCTAVE, descent_steps: int = DESCENT_STEPS):
        self.steps_per_octave = check_int("steps_per_octave", steps_per_octave, minimum=1)
        self.descent_steps = check_int("descent_steps", descent_steps, minimum=1)
        self.controls = self._make_controls()
        self.toggles = {
            name: widgets.Checkbox(value=name in DEFAULT_ENABLED, description=name, indent=False) for name in LOSS_NAMES
        }
        for checkbox in self.toggles.values():
            checkbox.layout = widgets.Layout(width="auto", margin="0 12px 0 0")
        self.descend = widgets.Button(description="descend from the candidate", button_style="info")
        self.descend.layout = widgets.Layout(width="auto")
        self.images = {name: png_image() for name in ("curve", "candidate", "heat")}
        for name, image in self.images.items():
            image.add_class(f"explorer-{name}")
        self.audio = {name: audio_player() for name in ("target", "candidate")}
        for name, player in self.audio.items():
            player.add_class(f"explorer-audio-{name}")
        self.readout = widgets.HTML().add_class("explorer-readout")
        self.descent_readout = widgets.HTML().add_class("explorer-descent")
        self.heat_box = widgets.Accordion(
            children=[widgets.VBox([self.controls["heat_parameter"], self.images["heat"]])], selected_index=None
        )
        self.heat_box.set_title(0, "heat map: the selected loss over f0 and a second synth parameter")
        self._losses: dict[tuple, nn.Module] = {}
        self._caches: dict[tuple, CandidateSpectra] = {}
        self.curves: dict[str, Curve] = {}
        self.path: DescentPath | None = None
        self.n_updates = 0
        self.timings: dict[str, float] = {}
        self._build_figures()
        self._observe()
        self.update()

    # ---- widgets

    def _make_controls(self) -> dict[str, widgets.Widget]:
        style = {"description_width": "initial"}
        low, high = DATA_F0_RANGE_HZ
        dropdown = partial(widgets.Dropdown, style=style, layout=widgets.Layout(width="auto"))
        return {
            "target_f0_hz": widgets.FloatLogSlider(
                value=440.0,
                base=10,
                min=math.log10(low),
                max=math.log10(high),
                step=0.001,
                readout_format=".1f",
                description="target f0 (Hz, the dataset's range)",
                continuous_update=False,
                style=style,
                layout=widgets.Layout(width="480px"),
            ),
            "n_harmonics": widgets.IntSlider(
                value=1, min=1, max=DATA_MAX_HARMONICS, description="harmonics", continuous_update=False, style=style
            ),
            "tilt_db": widgets.FloatSlider(
                value=-6.0,
                min=-12.0,
                max=0.0,
                step=1.5,
                readout_format=".1f",
                description="tilt (dB/octave)",
                continuous_update=False,
                style=style,
            ),
            "loss": dropdown(options=LOSS_NAMES, value="SOT", description="selected loss"),
            "n_fft": dropdown(options=[512, 1024, 2048], value=2048, description="n_fft (SOT, single-scale)"),
            "p": dropdown(options=[1, 2], value=2, description="SOT p"),
            "root": widgets.Checkbox(value=True, description="SOT root (W_p, not W_p^p)", indent=False),
            "mode": dropdown(options=["cut", "balanced"], value="cut", description="SOT mode"),
            "frequency_scale": dropdown(options=["linear", "log"], value="linear", description="SOT frequency"),
            "framing": dropdown(
                options=[("reference (padded end)", True), ("complete frames", False)],
                value=True,
                description="SOT framing",
            ),
            "norm": dropdown(options=["l1", "l2"], value="l1", description="MSS norm"),
            "candidate_cents": widgets.IntSlider(
                value=700,
                min=-1200,
                max=1200,
                step=5,
                readout_format="+d",
                description="candidate (cents from the target)",
                continuous_update=True,
                style=style,
                layout=widgets.Layout(width="480px"),
            ),
            "heat_parameter": dropdown(
                options=HEAT_PARAMETERS, value=HEAT_PARAMETERS[0], description="second parameter"
            ),
        }

    def _observe(self) -> None:
        for name in ("target_f0_hz", "n_harmonics", "tilt_db"):
            self.controls[name].observe(lambda _change: self.update(), names="value")
        for name in ("n_fft", "p", "root", "mode", "frequency_scale", "framing", "norm"):
            self.controls[name].observe(lambda _change: self.update(candidate_view=True), names="value")
        self.controls["loss"].observe(self._on_selected, names="value")
        for name, checkbox in self.toggles.items():
            checkbox.observe(partial(self._on_toggle, name), names="value")
        self.controls["candidate_cents"].observe(lambda _change: self.update_candidate(), names="value")
        self.controls["heat_parameter"].observe(lambda _change: self.update_heat_map(), names="value")
        self.heat_box.observe(lambda _change: self.update_heat_map(), names="selected_index")
        self.descend.on_click(lambda _button: self.run_descent())

    def _on_selected(self, change) -> None:
        if not self.toggles[change["new"]].value:
            self.toggles[change["new"]].value = True  # observed: updates
        else:
            self.update(candidate_view=False)

    def _on_toggle(self, name: str, change) -> None:
        if name == self.controls["loss"].value and not change["new"]:
            self.toggles[name].value = True  # the selected loss is always drawn
            return
        self.update(candidate_view=False)

    # ---- state

    @property
    def options(self) -> LossOptions:
        c = self.controls
        return LossOptions(
            n_fft=c["n_fft"].value,
            p=c["p"].value,
            root=c["root"].value,
            mode=c["mode"].value,
            frequency_scale=c["frequency_scale"].value,
            pad_end=c["framing"].value,
            norm=c["norm"].value,
        )

    @property
    def target_f0_hz(self) -> float:
        return float(self.controls["target_f0_hz"].value)

    @property
    def candidate_f0_hz(self) -> float:
        return self.target_f0_hz * 2.0 ** (self.controls["candidate_cents"].value / 1200)

    @property
    def amplitudes(self) -> torch.Tensor:
        return tilt_amplitudes(self.controls["n_harmonics"].value, self.controls["tilt_db"].value)

    @property
    def line(self):
        """The selected loss's curve (matplotlib line)."""
        return self.lines[self.controls["loss"].value]

    def enabled_losses(self) -> list[str]:
        """The losses whose curves are drawn, in :data:`LOSS_NAMES` order (the selected one always)."""
        selected = self.controls["loss"].value
        return [name for name in LOSS_NAMES if self.toggles[name].value or name == selected]

    def loss(self, name: str) -> nn.Module:
        """The loss module ``name`` with the current options (kept: modules are cheap to reuse)."""
        options = self.options
        relevant = () if name in GROUP_LOSSES else (options.norm,) if name.startswith("MSS") else options
        key = (name, relevant)
        if key not in self._losses:
            self._losses[key] = build_explorer_loss(name, options)
        return self._losses[key]

    def _cache(self) -> CandidateSpectra:
        key = (self.controls["n_harmonics"].value, self.controls["tilt_db"].value)
        if key not in self._caches:
            if len(self._caches) >= 2:  # the last two tones' spectra are kept
                self._caches.pop(next(iter(self._caches)))
            self._caches[key] = CandidateSpectra(self.amplitudes)
        return self._caches[key]

    # ---- updates

    @single_threaded
    def update(self, candidate_view: bool = True) -> None:
        """Recompute the curves of the enabled losses and redraw; also the candidate view when asked.

        ``timings["curves"]`` is how long the curves took until their image was sent, seconds;
        ``timings["update"]`` the whole update.
        """
        check_bool("candidate_view", candidate_view)
        start = time.perf_counter()
        cache = self._cache()
        candidates = candidate_grid(self.target_f0_hz, self.steps_per_octave)
        self.curves = {
            name: loss_curve(self.loss(name), self.target_f0_hz, cache, candidates) for name in self.enabled_losses()
        }
        self.path = None
        self.descent_readout.value = ""
        self.n_updates += 1
        self._draw_curves()
        self.timings["curves"] = time.perf_counter() - start
        if candidate_view:
            self._update_transport(full=True)
        self._write_readout()
        if self.heat_box.selected_index == 0:
            self.update_heat_map()
        self.timings["update"] = time.perf_counter() - start

    @single_threaded
    def update_candidate(self) -> None:
        """Redraw what depends on the candidate: its marker on the curves, the transport view, its audio
        (``timings["candidate"]``, seconds)."""
        start = time.perf_counter()
        self._render_curves(full=False)
        self._update_transport(full=False)
        self._write_readout()
        self.timings["candidate"] = time.perf_counter() - start

    def _update_transport(self, full: bool) -> None:
        """The transport view and the audio; ``full``: the target changed too (its audio is new)."""
        target = harmonic_tones(torch.tensor([self.target_f0_hz]), self.amplitudes)
        candidate = harmonic_tones(torch.tensor([self.candidate_f0_hz]), self.amplitudes)
        self.transport = transport_view(self.options, target, candidate)
        self._draw_transport()
        if full:
            self.audio["target"].value = wav_bytes(listening_tone(self.target_f0_hz, self.amplitudes))
        self.audio["candidate"].value = wav_bytes(listening_tone(self.candidate_f0_hz, self.amplitudes))

    @single_threaded
    def run_descent(self) -> DescentPath:
        """Gradient descent on f0 from the candidate under the selected loss; draw its path."""
        name = self.controls["loss"].value
        self.descent_readout.value = f"descending under {name}…"
        self.path = descent_path(
            self.loss(name), self.target_f0_hz, self.candidate_f0_hz, self.amplitudes, steps=self.descent_steps
        )
        error = float(cents_between(self.path.final_hz, self.target_f0_hz))
        verdict = "reaches the target" if abs(error) < SUCCESS_CENTS else "misses the target"
        self.descent_readout.value = (
            f"<b>{name}</b>: {self.descent_steps} Adam steps from {format_hz(self.path.f0_hz[0])} end at "
            f"<b>{format_hz(self.path.final_hz)}</b> ({format_cents(error)} from the target): {verdict} "
            f"(within {SUCCESS_CENTS:.0f} cents)."
        )
        self._render_curves(full=False)
        return self.path

    @single_threaded
    def update_heat_map(self) -> None:
        """Recompute the heat map of the selected loss (only while its section is open)."""
        if self.heat_box.selected_index != 0:
            return
        name = self.controls["loss"].value
        parameter = self.controls["heat_parameter"].value
        f0, values_y, grid, target_y = heat_map(
            self.loss(name),
            self.target_f0_hz,
            self.controls["n_harmonics"].value,
            self.controls["tilt_db"].value,
            parameter,
        )
        self.heat = {"f0_hz": f0, "values_y": values_y, "grid": grid, "target_y": target_y}
        self._draw_heat_map(name, parameter)

    # ---- figures

    def _build_figures(self) -> None:
        # The curves' axes are fixed (detuning in cents, normalised loss): their frame, ticks and
        # labels are drawn once and stored; every update draws only the data over them (blitting).
        self.curve_figure = new_figure(9.4, 4.7)
        grid = self.curve_figure.add_gridspec(2, 1, height_ratios=(4.2, 1.3), hspace=0.06)
        self.ax = self.curve_figure.add_subplot(grid[0])
        self.sign_ax = self.curve_figure.add_subplot(grid[1], sharex=self.ax)
        self.curve_figure.subplots_adjust(left=0.15, right=0.98, top=0.88, bottom=0.1)
        span = 1200 * SPAN_OCTAVES
        ticks = np.arange(-span, span + 1, 300)
        self.ax.set(xlim=(-span, span), ylim=(-0.04, 1.08), ylabel="normalised loss", xticks=ticks)
        self.ax.set_title("candidate f0 (Hz)", fontsize=9, pad=16)
        self.ax.grid(alpha=0.3)
        self.ax.tick_params(labelbottom=False)
        self.sign_ax.set_xlabel("candidate's detuning from the target (cents)", fontsize=9)
        self.ax.axvline(0.0, color="black", linestyle=":", linewidth=1.2)
        self.sign_ax.axvline(0.0, color="black", linestyle=":", linewidth=1.2)
        animated = dict(animated=True)
        self.lines = {}
        for name in LOSS_NAMES:
            style = dict(linestyle="--") if "SOT" in name else {}
            (self.lines[name],) = self.ax.plot([], [], color=LOSS_COLORS[name], label=name, **style, **animated)
        self.hz_labels = [
            self.ax.text(c, 1.01, "", transform=self.ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=9)
            for c in ticks
        ]
        self.outside = [self.ax.axvspan(0, 0, color="0.88", zorder=0, **animated) for _ in range(2)]
        self.candidate_marker = self.ax.axvline(0.0, color="0.45", linewidth=1.0, **animated)
        (self.candidate_dot,) = self.ax.plot([], [], "o", color="0.2", markersize=6, **animated)
        (self.path_line,) = self.ax.plot([], [], "-", color="black", linewidth=1.0, **animated)
        (self.path_end,) = self.ax.plot([], [], "X", color="black", markersize=9, **animated)
        for label in self.hz_labels:
            label.set_animated(True)
        self._sign_mesh = None
        self._curve_background = None
        self._curve_layout = None  # what the stored background shows: (enabled losses, selected loss)

        self.transport_figure = new_figure(9.4, 3.0)
        spectra_ax, cdf_ax, quantile_ax = self.transport_figure.subplots(
            1, 3, gridspec_kw=dict(width_ratios=(1.6, 1, 1))
        )
        self.transport_axes = spectra_ax, cdf_ax, quantile_ax
        self.transport_figure.subplots_adjust(left=0.075, right=0.985, top=0.88, bottom=0.17, wspace=0.32)
        # all the data is drawn over stored axes (blitting, see _draw_transport)
        target_style = dict(color="tab:blue", linestyle="--", linewidth=1.2, animated=True)
        candidate_style = dict(color="tab:orange", linewidth=1.2, animated=True)
        self.transport_artists = {
            "target": spectra_ax.plot([], [], label="target", **target_style)[0],
            "candidate": spectra_ax.plot([], [], label="candidate", **candidate_style)[0],
            "arcs": spectra_ax.add_collection(LineCollection([], colors="tab:green", alpha=0.55, animated=True)),
            "u_cdf": cdf_ax.plot([], [], drawstyle="steps-post", **target_style)[0],
            "v_cdf": cdf_ax.plot([], [], drawstyle="steps-post", **candidate_style)[0],
            "u_quantile": quantile_ax.plot([], [], drawstyle="steps-pre", **target_style)[0],
            "v_quantile": quantile_ax.plot([], [], drawstyle="steps-pre", **candidate_style)[0],
        }
        self._transport_fills = []
        self._transport_background = self._transport_layout = None
        self.transport_cost = quantile_ax.text(
            0.03, 0.97, "", transform=quantile_ax.transAxes, ha="left", va="top", fontsize=8, animated=True
        )
        spectra_ax.legend(fontsize=8, loc="upper right")
        spectra_ax.set(xlabel="frequency (Hz)", ylabel="energy share")
        spectra_ax.set_title("spectra and transport plan (arcs)", fontsize=9)
        cdf_ax.set(xlabel="frequency (Hz)", ylim=(0, 1.02))
        cdf_ax.set_title("CDFs (area between: W1)", fontsize=9)
        quantile_ax.set(xlabel="quantile level", ylabel="frequency (Hz)", xlim=(0, 1))
        quantile_ax.set_title("quantile functions", fontsize=9)

        self.heat_figure = new_figure(9.4, 3.4)

    def _draw_curves(self) -> None:
        """Draw new curves: the data over the stored axes (drawn again only when the set of curves changes)."""
        self._render_curves(full=False)

    def _selected_normalised(self, cents) -> np.ndarray:
        """The selected loss's normalised value at any detuning (its curve interpolated in cents)."""
        curve = self.curves[self.controls["loss"].value]
        return np.interp(cents, cents_between(curve.candidates_hz, self.target_f0_hz), curve.normalised)

    def _render_curves(self, full: bool) -> None:
        """Render the curves' figure: the stored axes (drawn again if ``full`` or the legend changed), then the data."""
        canvas, ax = self.curve_figure.canvas, self.ax
        selected, enabled = self.controls["loss"].value, list(self.curves)
        for name in enabled:
            self.lines[name].set_linewidth(3.0 if name == selected else 1.3)  # before the legend copies them
        if full or self._curve_background is None or self._curve_layout != (enabled, selected):
            ax.legend(
                handles=[self.lines[name] for name in enabled],
                loc="upper center",
                ncol=min(4, len(enabled)),
                fontsize=8,
                framealpha=0.9,
            )
            self.sign_ax.set_ylim(len(enabled), 0)
            self.sign_ax.set_yticks(np.arange(len(enabled)) + 0.5, enabled, fontsize=8)
            canvas.draw()  # animated artists are left out
            self._curve_background = canvas.copy_from_bbox(self.curve_figure.bbox)
            self._curve_layout = (enabled, selected)
        else:
            canvas.restore_region(self._curve_background)
        target = self.target_f0_hz
        for label, cents in zip(self.hz_labels, range(-1200, 1201, 300)):
            label.set_text(f"{target * 2 ** (cents / 1200):.{1 if target < 200 else 0}f}")
        low, high = (float(cents_between(edge, target)) for edge in DATA_F0_RANGE_HZ)  # the dataset's f0 range
        beyond = 1200 * SPAN_OCTAVES + 100  # shading outside the range runs off the axes
        self.outside[0].set_x(-beyond)
        self.outside[0].set_width(max(0.0, low + beyond))
        self.outside[1].set_x(high)
        self.outside[1].set_width(max(0.0, beyond - high))
        for name in enabled:
            curve, line = self.curves[name], self.lines[name]
            line.set_data(cents_between(curve.candidates_hz, target), curve.normalised)
        x = cents_between(next(iter(self.curves.values())).candidates_hz, target)
        edges = np.concatenate([[-1200 * SPAN_OCTAVES], (x[1:] + x[:-1]) / 2, [1200 * SPAN_OCTAVES]])
        if self._sign_mesh is not None:
            self._sign_mesh.remove()
        signs = np.stack([self.curves[name].direction for name in enabled])
        self._sign_mesh = self.sign_ax.pcolormesh(
            edges, np.arange(len(enabled) + 1), signs, cmap=SIGN_COLORS, vmin=-1.5, vmax=1.5, animated=True
        )
        cents = float(self.controls["candidate_cents"].value)
        self.candidate_marker.set_xdata([cents, cents])
        self.candidate_dot.set_data([cents], self._selected_normalised([cents]))
        if self.path is None:
            self.path_line.set_data([], [])
            self.path_end.set_data([], [])
        else:
            curve = self.curves[selected]
            span = curve.values.max() - curve.values.min()
            normalised = (self.path.loss - curve.values.min()) / span if span > 0 else np.zeros_like(self.path.loss)
            path_cents = cents_between(self.path.f0_hz, target)
            self.path_line.set_data(path_cents, np.clip(normalised, -0.04, 1.08))
            self.path_end.set_data([path_cents[-1]], [np.clip(normalised[-1], -0.04, 1.08)])
        self.sign_ax.draw_artist(self._sign_mesh)
        for artist in (*self.outside, *[self.lines[n] for n in enabled if n != selected], self.lines[selected]):
            ax.draw_artist(artist)
        for artist in (*self.hz_labels, self.candidate_marker, self.candidate_dot, self.path_line, self.path_end):
            ax.draw_artist(artist)
        self.images["curve"].value = canvas_png(self.curve_figure)

    def _draw_transport(self) -> None:
        """Render the transport view: the axes are stored and drawn again only when their limits change
        (they move in octave steps), the spectra and curves of target and candidate are drawn over them."""
        view, options = self.transport, self.options
        spectra_ax, cdf_ax, quantile_ax = self.transport_axes
        artists, canvas = self.transport_artists, self.transport_figure.canvas
        log = options.frequency_scale == "log"
        f, curves = view.frequencies_hz, view.curves
        # every candidate is at most an octave above the target: twice the target's reach is enough;
        # the limits snap to powers of two so that they rarely change
        low = 20.0 if log else 0.0
        high = float(min(2 ** math.ceil(math.log2(2.2 * view.target_top_hz)), SAMPLE_RATE / 2))
        shown = (f >= low) & (f <= high)
        peak = max(view.target[shown].max(), view.candidate[shown].max())
        top = float(2 ** math.ceil(math.log2(1.1 * peak)))
        layout = (options, high, top)
        if self._transport_background is None or self._transport_layout != layout:
            scale = "log" if log else "linear"
            for ax in (spectra_ax, cdf_ax):
                if ax.get_xscale() != scale:
                    ax.set_xscale(scale)
                ax.set_xlim(max(low, f[shown][0]), high)
            if quantile_ax.get_yscale() != scale:
                quantile_ax.set_yscale(scale)
            quantile_ax.set_ylim(max(low, f[shown][0]), high)
            spectra_ax.set_ylim(0, top)
            spectra_ax.set_title(f"SOT's spectra (n_fft {options.n_fft}) and transport plan", fontsize=9)
            canvas.draw()  # the animated artists (all the data) are left out
            self._transport_background = canvas.copy_from_bbox(self.transport_figure.bbox)
            self._transport_layout = layout
        else:
            canvas.restore_region(self._transport_background)
        levels = np.concatenate([[0.0], curves["levels"]])
        u_q = np.concatenate([curves["u_quantile"][:1], curves["u_quantile"]])
        v_q = np.concatenate([curves["v_quantile"][:1], curves["v_quantile"]])
        artists["target"].set_data(f[shown], view.target[shown])
        artists["u_cdf"].set_data(f[shown], curves["u_cdf"][shown])
        artists["u_quantile"].set_data(levels, u_q)
        artists["candidate"].set_data(f[shown], view.candidate[shown])
        rows, cols = np.nonzero(view.plan > 1e-3 * view.plan.max())
        keep = shown[rows] & shown[cols]
        rows, cols = rows[keep], cols[keep]
        segments = np.stack(
            [np.stack([f[rows], view.target[rows]], -1), np.stack([f[cols], view.candidate[cols]], -1)], 1
        )
        artists["arcs"].set_segments(segments)
        artists["arcs"].set_linewidths(0.4 + 2.5 * view.plan[rows, cols] / view.plan.max())
        artists["v_cdf"].set_data(f[shown], curves["v_cdf"][shown])
        artists["v_quantile"].set_data(levels, v_q)
        for fill in self._transport_fills:
            fill.remove()
        fill = dict(color="tab:green", alpha=0.25, animated=True)
        self._transport_fills = [
            cdf_ax.fill_between(f[shown], curves["u_cdf"][shown], curves["v_cdf"][shown], step="post", **fill),
            quantile_ax.fill_between(levels, u_q, v_q, step="pre", **fill),
        ]
        for name in ("arcs", "target", "candidate"):
            spectra_ax.draw_artist(artists[name])
        for ax, fill, lines in zip(
            (cdf_ax, quantile_ax), self._transport_fills, (("u_cdf", "v_cdf"), ("u_quantile", "v_quantile"))
        ):
            ax.draw_artist(fill)
            for name in lines:
                ax.draw_artist(artists[name])
        o = options
        kind = f"W{o.p}" if o.root else f"W{o.p}^{o.p}"
        self.transport_cost.set_text(
            f"SOT ({kind}, {o.mode}, {o.frequency_scale}) of\nthe mean spectra: {view.cost:.3g}"
        )
        quantile_ax.draw_artist(self.transport_cost)
        self.images["candidate"].value = canvas_png(self.transport_figure)

    def _draw_heat_map(self, name: str, parameter: str) -> None:
        heat, figure = self.heat, self.heat_figure
        grid = heat["grid"]
        positive = grid[grid > 0]
        vmax = positive.max() if positive.size else 1.0
        norm = LogNorm(vmin=max(positive.min() if positive.size else 1e-12, vmax * 1e-4), vmax=vmax)
        figure.clear()
        ax = figure.subplots()
        figure.subplots_adjust(left=0.1, right=1.0, top=0.88, bottom=0.15)
        mesh = ax.pcolormesh(
            heat["f0_hz"], heat["values_y"], np.maximum(grid, norm.vmin), shading="nearest", cmap="viridis", norm=norm
        )
        figure.colorbar(mesh, ax=ax, label="loss (log scale)", pad=0.01)
        minima = heat["f0_hz"][grid.argmin(axis=1)]
        ax.plot(minima, heat["values_y"], "o", color="white", markersize=4, label="best f0 per row")
        ax.plot([self.target_f0_hz], [heat["target_y"]], "*", color="red", markersize=14, markeredgecolor="black")
        hz_axis(ax, heat["f0_hz"][0], heat["f0_hz"][-1])
        ylabel = "harmonics" if parameter == "number of harmonics" else "tilt (dB/octave)"
        ax.set(xlabel="candidate f0 (Hz)", ylabel=ylabel)
        ax.set_title(f"{name} over candidate f0 and {parameter} (star: the target)", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
        self.images["heat"].value = figure_png(figure)

    def _write_readout(self) -> None:
        target, candidate = self.target_f0_hz, self.candidate_f0_hz
        rows = "".join(
            f"<tr><td>{name}</td><td>{100 * curve.toward:.0f} %</td><td>{self._value_at_candidate(curve):.3g}</td></tr>"
            for name, curve in self.curves.items()
        )
        self.readout.value = (
            f"<p>target <b>{format_hz(target)}</b> · candidate <b>{format_hz(candidate)}</b> "
            f"({format_cents(cents_between(candidate, target))}) · the dataset's f0: "
            f"{format_hz(DATA_F0_RANGE_HZ[0])} to {format_hz(DATA_F0_RANGE_HZ[1])}</p>"
            "<table><tr><th>loss</th><th>gradient steps toward the target</th>"
            "<th>normalised loss at the candidate</th></tr>" + rows + "</table>"
        )

    def _value_at_candidate(self, curve: Curve) -> float:
        return float(np.interp(np.log(self.candidate_f0_hz), np.log(curve.candidates_hz), curve.normalised))

    # ---- layout

    def widget(self) -> widgets.Widget:
        """The whole page as one widget."""
        c = self.controls
        toggles = wrapping_row(*self.toggles.values())
        return widgets.VBox(
            [
                wrapping_row(c["target_f0_hz"], c["n_harmonics"], c["tilt_db"]),
                widgets.HTML("<b>curves</b> (each normalised to [0, 1]):"),
                toggles,
                wrapping_row(c["loss"], c["n_fft"], c["p"], c["root"]),
                wrapping_row(c["mode"], c["frequency_scale"], c["framing"], c["norm"]),
                self.images["curve"],
                wrapping_row(c["candidate_cents"], self.descend),
                self.descent_readout,
                wrapping_row(
                    widgets.HTML("target"),
                    self.audio["target"],
                    widgets.HTML("candidate"),
                    self.audio["candidate"],
                ),
                self.images["candidate"],
                self.readout,
                self.heat_box,
            ]
        )

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget())
