"""faas: a self-hosted AWS Lambda.

The core lives here: code store, function registry, the warm-pool scheduler and
the Docker backend. The HTTP surface lives in ``gateway/``; what runs inside a
container lives in ``runtimes/``.
"""

__version__ = "0.1.0"
