"""Spectral Optimal Transport study: building blocks."""
