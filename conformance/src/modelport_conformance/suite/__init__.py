"""The conformance suite's tests (run them with ``python -m modelport_conformance``)."""
