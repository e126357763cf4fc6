"""Robust tuning."""
