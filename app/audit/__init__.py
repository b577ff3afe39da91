"""The audit log's hash chain: its canonical form (canonical.py), the walk that recomputes it
(verify.py) and what the walk found (report.py).

The database seals (migration 0006, trigger `audit_log_seal`); this package recomputes every
seal from the stored values alone, in Python, with the canonical form of docs/audit.md: it
trusts no function of the database. What it proves, and what it cannot (a superuser who
rewrites the chain from the change to the head): docs/audit.md.
"""
