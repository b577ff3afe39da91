"""The rule language: condition trees, their validation, the SQL compiler and the reference evaluator.

Knows no database connection and no HTTP; the run pipeline and the preview share it.
"""
