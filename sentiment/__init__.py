"""Sentiment of customer texts: analyzers, one score row per (text, analyzer, version), tasks."""
