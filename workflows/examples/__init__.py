"""Example flows shipped with Handrail."""
