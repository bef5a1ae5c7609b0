"""Evaluation metrics, calibration, slices, gates, stress cases and policy probes (see README.md).

Django-free and torch-free. Import the submodule you need (`evaluation.scoring.classification`, …):
this package imports none of them, so that light users (gates, probes) never load scikit-learn.
"""
