"""Sphinx configuration of the study's book (``make book``): the executed notebooks and the docs pages.

The source folder is the repository root, so that every link and image path written for the
repository (``../figures/losses_sine.png``, ``../data/README.md``) also resolves in the book;
``include_patterns`` picks the pages and ``exclude_patterns`` prunes everything else from the walk.
The notebooks are the executed copies in ``results/notebooks/`` (full mode, outputs included),
rendered as they are: nothing is executed. Every asset is served from the built site: the theme
ships its own, MathJax 2 comes from Debian's ``libjs-mathjax`` (``make book`` installs it), and
the notebooks' widget JavaScript (a CDN) is left out, so the book opens with no network.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATHJAX_DIR = Path(os.environ.get("MATHJAX_DIR", "/usr/share/javascript/mathjax"))
# the parts of MathJax 2 that the TeX-AMS_CHTML configuration loads (CommonHTML output, woff fonts)
MATHJAX_PARTS = (
    "MathJax.js",
    "config/TeX-AMS_CHTML.js",
    "extensions",
    "jax/element",
    "jax/input/TeX",
    "jax/output/CommonHTML",
    "jax/output/PreviewHTML",
    "fonts/HTML-CSS/TeX/woff",
    "localization/en",
)
BOOK_FOLDERS = {"docs", "data", "results"}

project = "Spectral Optimal Transport for harmonic parameter estimation: a reproducible study"
author = "the sot_utils authors"
copyright = "the sot_utils authors"
root_doc = "docs/index"
extensions = ["myst_nb", "sphinx.ext.mathjax"]
include_patterns = ["docs/*.md", "data/README.md", "results/notebooks/[0-9][0-9]_*.ipynb"]
exclude_patterns = sorted(p.name for p in ROOT.iterdir() if p.name not in BOOK_FOLDERS) + [
    "docs/_*",
    "results/quick",
]
templates_path = ["_templates"]
suppress_warnings = ["mystnb.unknown_mime_type"]  # widget views fall back to their text form

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the notebooks are shown as `make reproduce` executed them
nb_ipywidgets_js = {}  # no widget JavaScript from a CDN; the explorer has its own page (`make explorer`)
nb_merge_streams = True
nb_render_markdown_format = "myst"  # Markdown outputs (the "What this shows" cells) may hold math

mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_CHTML"
# Sphinx marks math with the class `math`; the theme marks the page body as not for MathJax
mathjax2_config = {
    "messageStyle": "none",
    "tex2jax": {"processEscapes": True, "ignoreClass": "document|tex2jax_ignore", "processClass": "math|output_area"},
}

html_theme = "sphinx_book_theme"
html_title = "SOT study"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
}
html_additional_pages = {"index": "redirect.html"}  # build/book/index.html opens the home page
html_context = {"default_mode": "light"}  # the theme logs an error when no mode is stored
html_favicon = "_static/favicon.svg"  # without one the browser asks for /favicon.ico (a 404)


def _copy_mathjax(app, exception):
    """Copy the MathJax 2 parts the pages load into the built site's ``_static/mathjax``."""
    if exception is not None or app.builder.format != "html":
        return
    if not (MATHJAX_DIR / "MathJax.js").is_file():
        raise RuntimeError(
            f"MathJax 2 not found in {MATHJAX_DIR}: run `make book` (installs Debian's libjs-mathjax) "
            "or `apt-get install libjs-mathjax`, or point MATHJAX_DIR at a MathJax 2 folder"
        )
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        source = MATHJAX_DIR / part
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / part)


def setup(app):
    app.connect("build-finished", _copy_mathjax)
