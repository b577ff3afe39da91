"""Automation runs: trigger (create or coalesce), publish and relay, execute in batches under
the guard. Knows no broker library: the composition roots hand it a `RunPublisher`."""
