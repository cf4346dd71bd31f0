"""Training the transformer sentiment artifact (a LoRA adapter and a head on all-MiniLM-L6-v2).

Nothing here is imported by the web process or the workers: only the training command and
the benchmark need it, and they import torch through it.
"""
