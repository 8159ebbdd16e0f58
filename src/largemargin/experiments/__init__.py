"""Experiments built on training: the offline demo (and the paper's experiments)."""
