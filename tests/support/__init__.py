"""What tests share: factories, polling, processes, proxies and console helpers.

Test modules import from here (and from conftest.py files), never from one another
(tests/unit/test_test_layout.py checks it)."""
