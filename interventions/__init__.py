"""Retention interventions: marketing rules, the decision engine, actions and their outcomes."""
