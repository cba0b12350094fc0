"""Every Redis key the platform uses, in one place.

| key                        | type   | holds                                              |
|----------------------------|--------|----------------------------------------------------|
| ``faas:functions``         | set    | names of all registered functions                  |
| ``faas:fn:<name>``         | string | the function's spec as JSON (``FunctionSpec``)     |

Values are JSON, never pickle. Keys take a prefix so several installations can
share one Redis (``FAAS_REDIS_URL`` may also select a database number).
"""

from __future__ import annotations

PREFIX = "faas:"
FUNCTIONS = PREFIX + "functions"


def function(name: str) -> str:
    return f"{PREFIX}fn:{name}"
