"""Stable-Baselines3 training, callbacks and feature extractors for densegym envs."""
