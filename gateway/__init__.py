"""The HTTP gateway: a FastAPI app whose handlers only call into ``faas``."""
