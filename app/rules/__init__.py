"""The rule language: condition trees, validation, the SQL compiler, the reference evaluator.

Knows no database connection and no HTTP; the run pipeline and the preview share it.
"""
