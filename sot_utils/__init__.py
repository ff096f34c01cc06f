"""Spectral Optimal Transport for unsupervised harmonic parameter estimation: building blocks.

``sot_utils.estimate_f0`` is the entry point for users' audio (see :mod:`sot_utils.estimate`).
"""


def __getattr__(name):
    # lazy, so that `python -m sot_utils.data` and friends do not import the whole package
    if name == "estimate_f0":
        from .estimate import estimate_f0

        return estimate_f0
    raise AttributeError(f"module 'sot_utils' has no attribute {name!r}")
