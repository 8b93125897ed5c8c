"""Benchmarks run by `manage.py bench <area>`. Each area is a module here with `run(options) -> dict`.

A benchmark prints its figures as it goes and returns them; the command prints them as the last line,
one JSON object. Targets are met here, never in timed unit tests.
"""
