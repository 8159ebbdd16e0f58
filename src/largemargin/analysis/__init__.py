"""Margin analysis: measure, compare and plot the margins of trained models.

- ``first_order_margins``: the linearised distance to the boundary at any named layers, per
  example, over a dataset (what the large margin loss optimises).
- ``true_margins``: the smallest flipping input perturbation found (DeepFool and any caller's
  adversarial candidates, then bisection), per example, in l2, l-inf or any lp norm with
  p > 1; NaN where none was found ("not found": the search failed, not a large margin).
- ``compare_margins``: rank correlation and ratio statistics of the two, and the count not
  found (``not_found``);
  ``input_margin_agreement``: both input margins of a model's examples and those statistics.
- ``plot_margin_cdfs``, ``plot_margin_agreement``, ``toy_boundary_figure``: PNG figures.

Depends on torch, numpy, matplotlib and ``largemargin.core`` only.
"""

from largemargin.analysis.agreement import compare_margins, not_found
from largemargin.analysis.first_order import first_order_margins
from largemargin.analysis.input_agreement import input_margin_agreement
from largemargin.analysis.plots import plot_margin_agreement, plot_margin_cdfs
from largemargin.analysis.toy import toy_boundary_figure
from largemargin.analysis.true_margin import deepfool, shrink_to_boundary, true_margins
from largemargin.files import save_figure

__all__ = [
    "compare_margins",
    "deepfool",
    "first_order_margins",
    "input_margin_agreement",
    "not_found",
    "plot_margin_agreement",
    "plot_margin_cdfs",
    "save_figure",
    "shrink_to_boundary",
    "toy_boundary_figure",
    "true_margins",
]
