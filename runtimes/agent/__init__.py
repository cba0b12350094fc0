"""The in-container agent: PID 1 of every function container (``python3 -m runtimes.agent``).

``agent`` serves the platform's socket and the Lambda Runtime API and owns the
bootstrap; ``processes`` starts the bootstrap and carries its output and signals.
What an invoke's answer is made of lives in ``runtimes.protocol``, shared with
the Python runtime. Standard library only (docs/container-protocol.md).
"""
