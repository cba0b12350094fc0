"""The Python runtime client (``python3 -m runtimes.python.bootstrap``), started by the agent."""
