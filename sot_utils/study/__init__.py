"""The study's tools: loss landscapes, plots, the explorer, perturbations, robustness, peers,
real instrument notes, the voicing decision against SNR, the autoencoder's traps and the
campaign's statistics, and the notebook runner. Built on the core and the training layer; nothing
below imports it.
"""
