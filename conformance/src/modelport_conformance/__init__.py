"""The modelport conformance suite: one set of tests every adapter runs.

The suite itself lands with the conformance issue; this package already
carries the helpers adapters share.
"""

__version__ = "0.1.0"
