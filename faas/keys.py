"""Every Redis key the platform uses, in one place.

| key                        | type   | holds                                                   |
|----------------------------|--------|---------------------------------------------------------|
| ``faas:functions``         | set    | names of all registered functions                       |
| ``faas:fn:<name>``         | string | the function's spec as JSON (``FunctionSpec``)          |
| ``faas:fn-changed``        | pub/sub| channel: names of functions just changed or deleted     |
|                            | channel| (processes drop them from their spec cache)             |
| ``faas:topics``            | hash   | SNS-compatible topics: name -> JSON                     |
|                            |        | (``faas.topics.records.Topic``: attributes, tags)       |
| ``faas:topic-subs:<topic>``| hash   | the topic's subscriptions: id -> JSON                   |
|                            |        | (``faas.topics.records.Subscription``)                  |
| ``faas:topic-ends:<topic>``| hash   | ``<protocol> <endpoint>`` -> the id subscribed there    |
|                            |        | (Subscribe twice: the same subscription)                |
| ``faas:topic-seq:<topic>`` | string | a FIFO topic's last SequenceNumber                      |
| ``faas:topic-dedup:<topic>:<id>`` | string | a FIFO topic's MessageDeduplicationId: "<MessageId>|
|                            |        | <SequenceNumber>" it was published as; expires in 5 min |
| ``faas:q:events``          | stream | async events ready to run: entries ``{id: requestId}``; |
|                            |        | consumer group ``workers``, whose pending entries list  |
|                            |        | is the in-flight work, each entry's idle time its lease |
| ``faas:q:delayed``         | zset   | requestIds waiting for a retry; score = due (epoch ms)  |
| ``faas:inv:<requestId>``   | hash   | one async invocation (``asyncq.records.Invocation``):   |
|                            |        | function, payload, state, attempts, times, result or    |
|                            |        | error; expires ``FAAS_RESULT_TTL_S`` after it succeeds  |
|                            |        | or fails, kept while dead-lettered                      |
| ``faas:dlq:<name>``        | zset   | a function's dead letters: requestIds, score = time;    |
|                            |        | deleted with the function, their records too            |
| ``faas:inv-recent:<name>`` | list   | the function's latest async requestIds, newest first,   |
|                            |        | pushed by the scripts that queue an event; trimmed to 50|
|                            |        | past 100 (the console's Async tab reads the first 50)   |
| ``faas:schedules``         | set    | names of functions that have schedules                  |
| ``faas:sched:<name>``      | string | the function's schedule rules as JSON                   |
|                            |        | (``faas.invoke.schedules.rules.Rule``)                  |
| ``faas:sched-state:<name>``| hash   | per rule: ``<rule>`` the epoch of the last tick handled,|
|                            |        | ``<rule>:fires`` and ``<rule>:misses`` counts           |
| ``faas:tick:<name>:<rule>:<epoch>`` | string | a tick fired (guard, expires after a day)      |
| ``faas:logs:<name>``       | stream | the function's invocation logs, one entry each          |
|                            |        | (``faas.catalog.logs.LogRecord``), trimmed by count    |
|                            |        | and age                                                 |
| ``faas:stats:<name>:<minute>`` | hash | the function's invocations in one minute (epoch s of|
|                            |        | its start), every process adding to it (HINCRBY):       |
|                            |        | ``inv``, ``err``, ``thr``, ``cold``, concurrency per    |
|                            |        | 10 s ``c0``-``c5``, durations per histogram bucket      |
|                            |        | ``d<i>`` (``faas.stats.rollup``); lapses 3 h after the  |
|                            |        | minute (what reads it), a deleted function's too        |
| ``faas:stats5m:<name>:<start>`` | hash | the same for the five minutes from ``<start>``  |
|                            |        | (concurrency ``c0``-``c29``): what lists and 24 h charts|
|                            |        | read; lapses 24 h after its end                         |
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
| ``faas:owner-instances``   | hash   | ``<node>/<owner>`` -> JSON of that process's instances |
|                            |        | by state (``{"idle": 2, ...}``), written by its        |
|                            |        | heartbeat (``faas.compute.owners``), for the console    |
| ``faas:running:<name>``    | zset   | leases of a capped function's running handlers, every |
|                            |        | node's: ``<node>/<owner>/<n>``, score = when the lease  |
|                            |        | lapses (epoch ms), renewed by its holder          |
|                            |        | (``faas.cluster.leases``)                               |
| ``faas:running``           | zset   | the same for every function, when the account's         |
|                            |        | concurrency is limited (``FAAS_ACCOUNT_CONCURRENCY``)   |
| ``faas:running-freed:<name>`` | pub/sub | a lease freed while the function (or, with no name,|
|                            | channel| the account) was at its cap: waiters look again         |
| ``faas:rate:<key>``        | hash   | an API key's token bucket (``tokens``, ``stamp`` ms),   |
|                            |        | every node's requests drawing on it; expires when full  |
| ``faas:warm:<pool key>``   | hash   | which processes have instances of that code and config:  |
|                            |        | ``<node>/<owner>`` -> how many (``faas.cluster.routing``)|
| ``faas:members``           | hash   | ``<node>/<owner>`` -> the URL that reaches that process  |
|                            |        | (warm routing forwards calls there)                     |
| ``faas:nodes``             | hash   | nodes (``faas serve``): node id -> JSON ``{url,         |
|                            |        | heartbeat, lapses}`` (``faas.cluster.nodes``): the URL  |
|                            |        | peers reach it at, written by its heartbeat; lapsed:    |
|                            |        | not live, forgotten after a day                         |
| ``faas:code-uploads``      | zset   | bundles being stored: sha256, score = when its last     |
|                            |        | upload began or finished (epoch s, Redis's clock); a    |
|                            |        | sweep keeps what is this recent (``faas.cluster.claims``)|
| ``faas:code-deleting:<sha256>`` | string | how many sweeps are deleting that bundle now  |
|                            |        | (uploads of it wait); expires after 60 s                |
| ``faas:code-sweep``        | pub/sub| channel: a function, version or layer version was       |
|                            | channel| deleted: every node sweeps its unreferenced bundles now |
| ``faas:code-s3-sweep``     | string | the node listing the S3 store for orphans this period   |
|                            |        | (``SET NX``, expires with the period)                   |
| ``faas:sqs:queues``        | set    | names of all SQS-compatible queues (``faas.queues``)    |
| ``faas:sqs:q:<queue>``     | hash   | a queue: ``attrs`` (its attributes as given, JSON),     |
|                            |        | the numbers its scripts read (``vis``, ``ret``,         |
|                            |        | ``delay``, ``wait``, ``max``, ``fifo``, ``cbd``, ``dlq``|
|                            |        | (dead-letter queue name), ``maxrc``), ``created`` and   |
|                            |        | ``modified`` (epoch s), ``seq`` (last SequenceNumber)   |
| ``faas:sqs:q:<queue>:tags``| hash   | the queue's tags                                        |
| ``faas:sqs:q:<queue>:body``| hash   | messageId -> the message as sent (JSON: body, MD5s,     |
|                            |        | message attributes, group and deduplication ids, sender)|
| ``faas:sqs:q:<queue>:state``| hash  | messageId -> "count first visibleAt seq group": receives|
|                            |        | so far, first receive (ms), when it may be received     |
|                            |        | (ms; FIFO), SequenceNumber, MessageGroupId. Absent: a   |
|                            |        | standard queue's message never received                |
| ``faas:sqs:q:<queue>:sent``| zset   | every message of the queue, score = SentTimestamp (ms): |
|                            |        | retention, depth, age of the oldest                     |
| ``faas:sqs:q:<queue>:ready``| zset  | standard: messages not in flight, score = when visible  |
|                            |        | (ms; later than now: delayed); FIFO: groups with no     |
|                            |        | message in flight, score = when their head is visible   |
| ``faas:sqs:q:<queue>:inflight``| zset | messages received, score = their visibility deadline |
|                            |        | (ms); past it, the next receive gives them back         |
| ``faas:sqs:q:<queue>:g:<group>``| list | FIFO: a group's messages in order (in flight too)    |
| ``faas:sqs:q:<queue>:locks``| hash  | FIFO: group -> how many of its messages are in flight   |
| ``faas:sqs:q:<queue>:dedup``| zset  | FIFO: deduplication ids, score = when they lapse (ms)   |
| ``faas:sqs:q:<queue>:dedupids``| hash | FIFO: deduplication id -> "messageId seq" it first had|
| ``faas:sqs:q:<queue>:wake``| pub/sub| channel: a message may be receivable (long polls wake)  |
|                            | channel|                                                         |
| ``faas:installation``      | string | this installation's id, made once (``SET NX``): its     |
|                            |        | containers carry it, and only they are ever reaped      |
| ``faas:mappings``          | hash   | event source mappings: UUID -> JSON                     |
|                            |        | (``faas.invoke.mappings.model.Mapping``)                |
| ``faas:mappings-rev``      | string | bumped with every change of a mapping: pollers reload   |
|                            |        | the mappings when it moves                              |
| ``faas:console:<sha256>``  | string | a web console session, under the sha256 of its cookie's |
|                            |        | id: JSON ``{key, key_id, csrf}`` (the key's name and    |
|                            |        | access key id, never its secret); expires 12 h after its|
|                            |        | last use (``gateway.console.session``)                  |
| ``faas:test-events:<name>``| hash   | the function's saved test events (the console's Test    |
|                            |        | tab): event name -> JSON ``{event, saved}``, the event's|
|                            |        | JSON text as typed; at most 10 (``faas.catalog.         |
|                            |        | saved_events``); deleted with the function              |

A queue's message is in its ``body`` hash and ``sent`` set from its send to its
delete (or its move to the dead-letter queue, or its retention's end), and in
exactly one of ``ready`` (standard; FIFO: in its group's list) or ``inflight``;
every change is one script (``faas.queues.scripts``), which builds a dead-letter
queue's keys from the same ``faas:sqs:q:<queue>`` stem.

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
TOPICS = PREFIX + "topics"
EVENTS = PREFIX + "q:events"
EVENTS_GROUP = "workers"
DELAYED = PREFIX + "q:delayed"
INVOCATION_PREFIX = PREFIX + "inv:"
OWNERS = PREFIX + "owners"
OWNER_INSTANCES = PREFIX + "owner-instances"
NODES = PREFIX + "nodes"
INSTALLATION = PREFIX + "installation"
SCHEDULED = PREFIX + "schedules"
LAYERS = PREFIX + "layers"
MAPPINGS = PREFIX + "mappings"
MAPPINGS_REV = PREFIX + "mappings-rev"
CODE_UPLOADS = PREFIX + "code-uploads"
CODE_SWEEP = PREFIX + "code-sweep"
CODE_S3_SWEEP = PREFIX + "code-s3-sweep"
RUNNING = PREFIX + "running"
MEMBERS = PREFIX + "members"


def function(name: str) -> str:
    return f"{PREFIX}fn:{name}"


def invocation(request_id: str) -> str:
    return INVOCATION_PREFIX + request_id


def dead_letters(name: str) -> str:
    return f"{PREFIX}dlq:{name}"


def recent_invocations(name: str) -> str:
    return f"{PREFIX}inv-recent:{name}"


def schedules(name: str) -> str:
    return f"{PREFIX}sched:{name}"


def schedule_state(name: str) -> str:
    return f"{PREFIX}sched-state:{name}"


def tick(name: str, rule: str, epoch: int) -> str:
    return f"{PREFIX}tick:{name}:{rule}:{epoch}"


def logs(name: str) -> str:
    return f"{PREFIX}logs:{name}"


def stats(name: str, minute: int) -> str:
    """A function's statistics of the minute starting at ``minute`` (epoch seconds)."""
    return f"{PREFIX}stats:{name}:{minute}"


def stats_block(name: str, start: int) -> str:
    """A function's statistics of the five minutes starting at ``start`` (epoch seconds)."""
    return f"{PREFIX}stats5m:{name}:{start}"


def secrets(name: str) -> str:
    return f"{PREFIX}secrets:{name}"


def versions(name: str) -> str:
    return f"{PREFIX}versions:{name}"


def aliases(name: str) -> str:
    return f"{PREFIX}aliases:{name}"


def topic_subscriptions(topic: str) -> str:
    return f"{PREFIX}topic-subs:{topic}"


def topic_endpoints(topic: str) -> str:
    return f"{PREFIX}topic-ends:{topic}"


def topic_sequence(topic: str) -> str:
    return f"{PREFIX}topic-seq:{topic}"


def topic_dedup(topic: str, dedup_id: str) -> str:
    return f"{PREFIX}topic-dedup:{topic}:{dedup_id}"


def running(name: str) -> str:
    """A capped function's leases; ``running("")`` is the account's (``RUNNING``)."""
    return f"{RUNNING}:{name}" if name else RUNNING


def running_freed(name: str) -> str:
    """The channel of a freed lease of ``name`` ("": of the account's)."""
    return f"{PREFIX}running-freed:{name}"


def rate(key_id: str) -> str:
    return f"{PREFIX}rate:{key_id}"


def warm(pool_key: str) -> str:
    return f"{PREFIX}warm:{pool_key}"


def code_deleting(sha: str) -> str:
    return f"{PREFIX}code-deleting:{sha}"


def layer(name: str) -> str:
    return f"{PREFIX}layer:{name}"


def console_session(digest: str) -> str:
    return f"{PREFIX}console:{digest}"


def saved_events(name: str) -> str:
    """A function's saved test events (the console's Test tab)."""
    return f"{PREFIX}test-events:{name}"


SQS_QUEUES = PREFIX + "sqs:queues"
SQS_QUEUE_PREFIX = PREFIX + "sqs:q:"
# The parts of a queue's keys (``sqs_queue(name) + ":" + part``), as the scripts name them.
SQS_PARTS = ("tags", "body", "state", "sent", "ready", "inflight", "locks", "dedup", "dedupids")


def sqs_queue(name: str) -> str:
    """A queue's hash; its other keys are this stem, a colon and a part (``SQS_PARTS``)."""
    return SQS_QUEUE_PREFIX + name


def sqs_keys(name: str) -> list[str]:
    """A queue's hash and its parts' keys, in the order the scripts take them."""
    stem = SQS_QUEUE_PREFIX + name
    return [stem, *(f"{stem}:{part}" for part in SQS_PARTS)]


def sqs_wake(name: str) -> str:
    return f"{SQS_QUEUE_PREFIX}{name}:wake"
