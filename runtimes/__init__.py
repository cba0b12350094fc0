"""The runtime image: the in-container agent (PID 1) and the language runtime clients."""
