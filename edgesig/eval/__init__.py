"""Evaluation: error rates, protocols over signature databases, plots."""
