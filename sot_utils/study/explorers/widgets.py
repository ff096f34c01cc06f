"""The widget kit both explorer pages share (:mod:`.landscape`, :mod:`.estimator`).

The kit of the explorer pages (notebook 02's explorer, `notebooks/explorer.ipynb`).

- :func:`single_threaded`: a page's handlers run with one torch thread;
- readable numbers: :func:`format_hz`, :func:`format_cents`, :func:`cents_between`;
- sound: :func:`wav_bytes`, what an :func:`audio_player` plays;
- figures without pyplot: :func:`new_figure` (a figure with its own Agg canvas), :func:`canvas_png`
  and :func:`figure_png` (its pixels as PNG bytes, what a :func:`png_image` shows), :func:`hz_axis`
  (a logarithmic frequency axis in plain Hz);
- widgets: :func:`audio_player`, :func:`png_image`, :func:`wrapping_row` (a row that wraps).
"""

from __future__ import annotations

import functools
import io
import math

import ipywidgets as widgets
import numpy as np
import soundfile
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from ...constants import SAMPLE_RATE

__all__ = [
    "HZ_TICK_SUBS",
    "audio_player",
    "canvas_png",
    "cents_between",
    "figure_png",
    "format_cents",
    "format_hz",
    "hz_axis",
    "new_figure",
    "png_image",
    "single_threaded",
    "wav_bytes",
    "wrapping_row",
]

HZ_TICK_SUBS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)  # Hz ticks on a short log axis


# --------------------------------------------------------------------------------------------
# Threads


def single_threaded(method):
    """Run a page's handler with one torch thread, then restore the setting.

    An update is many small tensor operations: a second thread only adds synchronisation, and on a
    machine whose cores are busy with other work (training runs) it waits for them: measured ten
    times slower with two threads than with one on two busy cores (``benchmarks/bench_explorer.py``).
    """

    @functools.wraps(method)
    def run(*args, **kwargs):
        threads = torch.get_num_threads()
        if threads != 1:
            torch.set_num_threads(1)
        try:
            return method(*args, **kwargs)
        finally:
            if threads != 1:
                torch.set_num_threads(threads)

    return run


# --------------------------------------------------------------------------------------------
# Readable numbers


def format_hz(frequency_hz: float) -> str:
    """A frequency with four significant digits and no exponent: ``"440.0 Hz"``, ``"1600 Hz"``, ``"43.65 Hz"``."""
    frequency_hz = float(frequency_hz)
    if not math.isfinite(frequency_hz):
        raise ValueError(f"`frequency_hz` must be finite, got {frequency_hz!r}")
    if frequency_hz == 0:
        return "0 Hz"
    decimals = max(0, 3 - math.floor(math.log10(abs(frequency_hz))))
    return f"{frequency_hz:.{decimals}f} Hz"


def format_cents(cents: float) -> str:
    """A signed pitch interval: ``"+100 cents"``, ``"-4.7 cents"``, ``"0 cents"``."""
    cents = float(cents)
    if abs(cents) < 0.05:
        return "0 cents"
    return f"{cents:+.1f} cents" if abs(cents) < 10 else f"{cents:+.0f} cents"


def cents_between(frequency_hz, reference_hz):
    """``1200 log2(frequency / reference)``: how far ``frequency`` is above ``reference``, cents."""
    return 1200.0 * np.log2(np.asarray(frequency_hz, dtype=np.float64) / np.asarray(reference_hz, dtype=np.float64))


# --------------------------------------------------------------------------------------------
# Sound


def wav_bytes(audio, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono waveform ``[n_samples]`` (float, within [-1, 1]) as 16-bit WAV file bytes."""
    audio = np.asarray(audio.detach() if isinstance(audio, torch.Tensor) else audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"`audio` must be a non-empty mono waveform [n_samples], got shape {audio.shape}")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0), int(sample_rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Drawing


def new_figure(width_inches: float, height_inches: float, dpi: int = 100) -> Figure:
    """A figure with its own Agg canvas (no pyplot: nothing global, nothing to close)."""
    figure = Figure(figsize=(width_inches, height_inches), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def canvas_png(figure: Figure) -> bytes:
    """What the figure's Agg canvas holds now, as PNG bytes (fast compression: the page redraws often)."""
    buffer = io.BytesIO()
    pixels = np.asarray(figure.canvas.buffer_rgba())
    imsave(buffer, pixels, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def figure_png(figure: Figure) -> bytes:
    """A figure drawn on its Agg canvas, as PNG bytes (see :func:`new_figure`)."""
    figure.canvas.draw()
    return canvas_png(figure)


def hz_axis(ax, low_hz: float, high_hz: float) -> None:
    """A logarithmic frequency axis between two frequencies, ticks labelled in plain Hz, no minor ticks."""
    ax.set_xscale("log")
    ax.set_xlim(low_hz, high_hz)
    decades = math.log10(high_hz / low_hz)
    subs = (1.0, 2.0, 5.0) if decades > 1.5 else (1.0, 2.0, 3.0, 5.0) if decades > 0.8 else tuple(HZ_TICK_SUBS)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


# --------------------------------------------------------------------------------------------
# Widgets: players, images, rows


def audio_player() -> widgets.Audio:
    """An audio player for :func:`wav_bytes`: controls shown, no autoplay, no loop."""
    return widgets.Audio(format="wav", autoplay=False, loop=False, controls=True)


def png_image() -> widgets.Image:
    """An image widget for a figure's PNG bytes (:func:`canvas_png`), never wider than the page."""
    return widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))


def wrapping_row(*children: widgets.Widget) -> widgets.HBox:
    """Widgets side by side, wrapping onto further lines when the page is too narrow for them."""
    return widgets.HBox(list(children), layout=widgets.Layout(flex_flow="row wrap"))
