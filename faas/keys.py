"""Every Redis key the platform uses, in one place.

| key                        | type   | holds                                                   |
|----------------------------|--------|---------------------------------------------------------|
| ``faas:functions``         | set    | names of all registered functions                       |
| ``faas:fn:<name>``         | string | the function's spec as JSON (``FunctionSpec``)          |
| ``faas:fn-changed``        | pub/sub| channel: names of functions just changed or deleted     |
|                            | channel| (processes drop them from their spec cache)             |
| ``faas:q:events``          | stream | async events ready to run: entries ``{id: requestId}``; |
|                            |        | consumer group ``workers``, whose pending entries list  |
|                            |        | is the in-flight work, each entry's idle time its lease |
| ``faas:q:delayed``         | zset   | requestIds waiting for a retry; score = due (epoch ms)  |
| ``faas:inv:<requestId>``   | hash   | one async invocation (``asyncq.records.Invocation``):   |
|                            |        | function, payload, state, attempts, times, result or    |
|                            |        | error; expires ``FAAS_RESULT_TTL_S`` after it succeeds  |
|                            |        | or fails, kept while dead-lettered                      |
| ``faas:dlq:<name>``        | zset   | a function's dead letters: requestIds, score = time     |
| ``faas:schedules``         | set    | names of functions that have schedules                  |
| ``faas:sched:<name>``      | string | the function's schedule rules as JSON                   |
|                            |        | (``faas.invoke.schedules.rules.Rule``)                  |
| ``faas:sched-state:<name>``| hash   | per rule: ``<rule>`` the epoch of the last tick handled,|
|                            |        | ``<rule>:fires`` and ``<rule>:misses`` counts           |
| ``faas:tick:<name>:<rule>:<epoch>`` | string | a tick fired (guard, expires after a day)      |
| ``faas:logs:<name>``       | stream | the function's invocation logs, one entry each          |
|                            |        | (``faas.catalog.logs.LogRecord``), trimmed by count    |
|                            |        | and age                                                 |
| ``faas:secrets:<name>``    | hash   | the function's secrets: name -> value                   |
| ``faas:versions:<name>``   | hash   | published versions: number -> the spec as JSON, frozen  |
|                            |        | (``version`` set); field ``seq`` the last number given  |
| ``faas:aliases:<name>``    | hash   | aliases: name -> JSON (``faas.catalog.aliases.Alias``)  |
| ``faas:layers``            | set    | names of the layers ever published                      |
| ``faas:layer:<name>``      | hash   | a layer's versions: number -> JSON                      |
|                            |        | (``faas.catalog.layers.LayerVersion``), kept once       |
|                            |        | deleted (``deleted`` set) for the functions using it;   |
|                            |        | field ``seq`` the last number given                     |
| ``faas:owners``            | zset   | live server/worker processes: ``<node>/<owner>``, score |
|                            |        | = the epoch its heartbeat lapses; containers whose owner|
|                            |        | lapsed are reaped by any live process of the node       |
| ``faas:installation``      | string | this installation's id, made once (``SET NX``): its     |
|                            |        | containers carry it, and only they are ever reaped      |

An event is in exactly one of: the stream (queued or in flight), the delayed
set (waiting to retry), a dead-letter set, or none (finished). Moves between
them happen in one MULTI/EXEC or one Lua script, so a crash at any point leaves
the event somewhere. Values are JSON, never pickle. Keys take a prefix so
several installations can share one Redis (``FAAS_REDIS_URL`` may also select
a database number).
"""

from __future__ import annotations

PREFIX = "faas:"
FUNCTIONS = PREFIX + "functions"
FUNCTION_CHANGED = PREFIX + "fn-changed"
EVENTS = PREFIX + "q:events"
EVENTS_GROUP = "workers"
DELAYED = PREFIX + "q:delayed"
INVOCATION_PREFIX = PREFIX + "inv:"
OWNERS = PREFIX + "owners"
INSTALLATION = PREFIX + "installation"
SCHEDULED = PREFIX + "schedules"
LAYERS = PREFIX + "layers"


def function(name: str) -> str:
    return f"{PREFIX}fn:{name}"


def invocation(request_id: str) -> str:
    return INVOCATION_PREFIX + request_id


def dead_letters(name: str) -> str:
    return f"{PREFIX}dlq:{name}"


def schedules(name: str) -> str:
    return f"{PREFIX}sched:{name}"


def schedule_state(name: str) -> str:
    return f"{PREFIX}sched-state:{name}"


def tick(name: str, rule: str, epoch: int) -> str:
    return f"{PREFIX}tick:{name}:{rule}:{epoch}"


def logs(name: str) -> str:
    return f"{PREFIX}logs:{name}"


def secrets(name: str) -> str:
    return f"{PREFIX}secrets:{name}"


def versions(name: str) -> str:
    return f"{PREFIX}versions:{name}"


def aliases(name: str) -> str:
    return f"{PREFIX}aliases:{name}"


def layer(name: str) -> str:
    return f"{PREFIX}layer:{name}"
