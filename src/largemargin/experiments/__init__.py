"""Experiments built on training, attacks and analysis: the offline demo (``demo``), attacking a
checkpoint (``attack_checkpoint``), and the paper's experiments behind `largemargin reproduce`
(``reproduce``; the grids in ``noisy_labels``, ``small_data``, ``adversarial``, ``recipes``, their
shared machinery in ``grid``)."""
