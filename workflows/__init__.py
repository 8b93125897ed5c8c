"""Deterministic Temporal code only: the decision workflow, its contracts and the flow definitions.

Nothing here imports Django or `orchestrator`; activities are called by the names in `contracts`.
"""
