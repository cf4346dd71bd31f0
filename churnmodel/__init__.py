"""Churn risk: point-in-time features, training, the model registry, scoring and reasons."""
