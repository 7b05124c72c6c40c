"""Plots shared by the notebooks and the CLI (matplotlib / seaborn), one module per stage."""
