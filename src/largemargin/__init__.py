"""largemargin: Large Margin Deep Networks for Classification (Elsayed et al., NeurIPS 2018)."""

__version__ = "0.1.0"
