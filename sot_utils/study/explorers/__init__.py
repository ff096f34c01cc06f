"""The two interactive explorer pages (ipywidgets and matplotlib, served by Voila) and the kit they share.

- :mod:`~sot_utils.study.explorers.landscape`: the loss-landscape explorer (``make explorer``,
  ``notebooks/explorer.ipynb``): losses against candidate f0 around a target tone, the direction
  of their gradients, a candidate's spectra and transport plan, a descent, a heat map. Its curves
  are computed in :mod:`~sot_utils.study.explorers.landscape_curves`, its other views' data in
  :mod:`~sot_utils.study.explorers.landscape_views`.
- :mod:`~sot_utils.study.explorers.estimator`: the trained estimators' page (``make estimator``,
  ``notebooks/estimator_explorer.ipynb``): one or two checkpoints read a synthetic tone, a real
  note or an upload.
- :mod:`~sot_utils.study.explorers.widgets`: the widget kit both pages use (one torch thread per
  handler, readable numbers, WAV bytes and audio players, figures on their own Agg canvas as PNG
  image widgets, wrapping rows).
"""
