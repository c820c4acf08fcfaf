"""Metrics: pure functions over model outputs (generations, log-probs)."""
