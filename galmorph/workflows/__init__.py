"""Workflows over the whole package: the offline demo, reports and survey classification.

A workflow may use every layer below it (data, models, training, inference,
astro, plots); nothing in the package imports a workflow except the CLI.
"""
