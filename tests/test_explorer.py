"""Tests for ``sot_utils.study.explorer.LossExplorer``: every widget drives the curve, in process and in a
real Jupyter kernel (nbclient)."""

from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pytest

from sot_utils.losses import MultiScaleSpectralLoss, SpectralOTLoss
from sot_utils.study.explorer import LOSS_KINDS, LossExplorer

REPO_ROOT = Path(__file__).resolve().parents[1]
N_CANDIDATES = 41


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def explorer():
    return LossExplorer(n_candidates=N_CANDIDATES)


def _data(explorer):
    x = np.asarray(explorer.line.get_xdata(), dtype=np.float64)
    y = np.asarray(explorer.line.get_ydata(), dtype=np.float64)
    return x, y


def _set(explorer, name, value):
    """Set one widget; check that the curve was recomputed; return (old y, new y)."""
    _, before = _data(explorer)
    updates = explorer.n_updates
    assert explorer.controls[name].value != value, f"{name} already {value!r}: setting it would be a no-op"
    explorer.controls[name].value = value
    assert explorer.n_updates == updates + 1, f"setting {name} did not recompute the curve"
    _, after = _data(explorer)
    assert after.shape == (N_CANDIDATES,) and np.all(np.isfinite(after)), name
    return before, after


def _changed(before, after):
    return before.shape != after.shape or not np.allclose(before, after, rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# In process


def test_initial_curve_is_finite_with_minimum_at_target(explorer):
    x, y = _data(explorer)
    assert explorer.n_updates == 1
    assert x.shape == y.shape == (N_CANDIDATES,)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    target = explorer.controls["target_f0_hz"].value
    # candidates span target * 2^[-1, 1] (log spaced), increasing
    assert np.all(np.diff(x) > 0)
    np.testing.assert_allclose([x[0], x[-1]], [target / 2, target * 2], rtol=1e-5)
    closest = int(np.argmin(np.abs(x - target)))
    np.testing.assert_allclose(x[closest], target, rtol=1e-5)
    assert int(np.argmin(y)) == closest
    assert y[closest] < np.median(y)
    # the marker follows the target
    np.testing.assert_allclose(explorer.marker.get_xdata(), [target, target])


def test_target_f0_recomputes_and_moves_the_minimum(explorer):
    before, after = _set(explorer, "target_f0_hz", 250.0)
    assert explorer.n_updates == 2
    assert _changed(before, after)
    x, y = _data(explorer)
    np.testing.assert_allclose([x[0], x[-1]], [125.0, 500.0], rtol=1e-5)
    closest = int(np.argmin(np.abs(x - 250.0)))
    assert int(np.argmin(y)) == closest
    np.testing.assert_allclose(explorer.marker.get_xdata(), [250.0, 250.0])


@pytest.mark.parametrize("kind", [k for k in LOSS_KINDS if k != "SOT"])
def test_each_loss_kind_changes_the_curve(explorer, kind):
    before, after = _set(explorer, "loss", kind)
    assert _changed(before, after), kind
    assert kind in explorer.ax.get_title()


def test_every_loss_kind_gives_a_distinct_curve(explorer):
    curves = {"SOT": _data(explorer)[1]}
    for kind in LOSS_KINDS[1:]:
        explorer.controls["loss"].value = kind
        curves[kind] = _data(explorer)[1]
    explorer.controls["loss"].value = "SOT"  # and back
    np.testing.assert_allclose(_data(explorer)[1], curves["SOT"], rtol=1e-6)
    names = list(curves)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert _changed(curves[a], curves[b]), (a, b)


@pytest.mark.parametrize(
    "name, value",
    [("n_fft", 512), ("p", 1), ("root", False), ("mode", "balanced"), ("frequency_scale", "log"), ("n_harmonics", 4)],
)
def test_sot_controls_change_the_curve(explorer, name, value):
    assert explorer.controls["loss"].value == "SOT"
    before, after = _set(explorer, name, value)
    assert _changed(before, after), f"widget {name} is dead for the SOT loss"


def test_norm_changes_the_mss_curve(explorer):
    explorer.controls["loss"].value = "MSS (lin)"
    before, after = _set(explorer, "norm", "l2")
    assert _changed(before, after), "widget norm is dead for MSS (lin)"


def test_n_fft_changes_the_single_scale_curve(explorer):
    explorer.controls["loss"].value = "single-scale (lin)"
    before, after = _set(explorer, "n_fft", 1024)
    assert _changed(before, after)


def test_build_loss_follows_the_widgets():
    explorer = LossExplorer(n_candidates=5)  # each widget change recomputes: keep the curve small
    c = explorer.controls
    c["n_fft"].value, c["p"].value, c["root"].value = 1024, 1, False
    c["mode"].value, c["frequency_scale"].value, c["norm"].value = "balanced", "log", "l2"

    sot = explorer.build_loss()
    assert isinstance(sot, SpectralOTLoss)
    assert sot.n_ffts == (1024,)
    assert (sot.p, sot.root, sot.mode, sot.frequency_scale, sot.reduction) == (1, False, "balanced", "log", "none")

    c["loss"].value = "single-scale (lin)"
    single = explorer.build_loss()
    assert isinstance(single, MultiScaleSpectralLoss)
    assert single.fft_sizes == (1024,)
    assert (single.norm, single.lin_weight, single.log_weight, single.reduction) == ("l2", 1.0, 0.0, "none")

    c["loss"].value = "MSS (lin)"
    lin = explorer.build_loss()
    assert isinstance(lin, MultiScaleSpectralLoss)
    assert lin.fft_sizes == (2048, 1024, 512, 256, 128, 64)
    assert (lin.norm, lin.lin_weight, lin.log_weight, lin.reduction) == ("l2", 1.0, 0.0, "none")

    c["loss"].value = "MSS (log)"
    c["norm"].value = "l1"
    log = explorer.build_loss()
    assert isinstance(log, MultiScaleSpectralLoss)
    assert log.fft_sizes == (2048, 1024, 512, 256, 128, 64)
    assert (log.norm, log.lin_weight, log.log_weight, log.reduction) == ("l1", 0.0, 1.0, "none")

    c["loss"].value = "SOT"
    c["p"].value, c["root"].value, c["mode"].value, c["frequency_scale"].value = 2, True, "cut", "linear"
    default = explorer.build_loss()
    assert isinstance(default, SpectralOTLoss)
    assert (default.n_ffts, default.p, default.root, default.mode, default.frequency_scale) == (
        (1024,),
        2,
        True,
        "cut",
        "linear",
    )


def _descendants(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)


def test_widget_contains_every_control_and_the_output():
    explorer = LossExplorer(n_candidates=5)
    box = explorer.widget()
    assert isinstance(box, widgets.VBox)
    inside = list(_descendants(box))
    for name, control in explorer.controls.items():
        assert any(w is control for w in inside), f"control {name} missing from widget()"
    assert any(w is explorer.output for w in inside)
    assert isinstance(explorer.output, widgets.Output)
    assert box.children[-1] is explorer.output


def test_figure_is_displayed_as_png():
    # as an image, not as the Figure: a kernel without pyplot has no PNG formatter for figures
    png = LossExplorer(n_candidates=5).png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000


# ------------------------------------------------------------------------------------------------
# In a real kernel


KERNEL_CELLS = [
    "import torch\n"
    "torch.set_num_threads(1)  # many small ops: threads only add overhead here\n"
    "from sot_utils.study.explorer import LossExplorer\n"
    "explorer = LossExplorer(n_candidates=21)\n"
    "explorer",
    "import json\n"
    "import numpy as np\n"
    "before = np.array(explorer.line.get_ydata(), dtype=float)\n"
    "explorer.controls['target_f0_hz'].value = 300.0\n"
    "after_target = np.array(explorer.line.get_ydata(), dtype=float)\n"
    "explorer.controls['loss'].value = 'MSS (log)'\n"
    "after_loss = np.array(explorer.line.get_ydata(), dtype=float)\n"
    "print('RESULT ' + json.dumps({\n"
    "    'n_updates': explorer.n_updates,\n"
    "    'n_points': int(after_loss.size),\n"
    "    'finite': bool(np.isfinite(after_loss).all()),\n"
    "    'target_changed': not np.allclose(before, after_target),\n"
    "    'loss_changed': not np.allclose(after_target, after_loss),\n"
    "    'title': explorer.ax.get_title(),\n"
    "}))",
]


def _stream_text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def test_explorer_in_a_real_kernel():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in KERNEL_CELLS]
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(REPO_ROOT)}}
    )
    client.execute()

    display_cell, action_cell = nb.cells
    for cell in nb.cells:
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, errors
    views = [
        o
        for o in display_cell.outputs
        if o.get("output_type") in ("display_data", "execute_result")
        and "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert views, f"no widget view in the display cell's outputs: {display_cell.outputs}"
    assert views[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]

    lines = [line for line in _stream_text(action_cell).splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, _stream_text(action_cell)
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["n_updates"] >= 3
    assert result["n_points"] == 21 and result["finite"]
    assert result["target_changed"] and result["loss_changed"]
    assert result["title"].startswith("MSS (log)")
