"""The study's tools: loss landscapes, plots, the two explorer pages and their widget kit
(:mod:`sot_utils.study.explorers`), perturbations, robustness, peers, real instrument notes, the
voicing decision against SNR, the autoencoder's traps and the campaign's statistics, and the
notebook runner. Built on the core and the training layer; nothing below imports it.
"""
