"""SQS-compatible queues on Redis (docs/event-sources.md, "Queues").

- ``model``: plain data (a queue and its attributes, a message, what a receive hands out);
- ``attributes``: SQS attribute maps parsed and checked;
- ``digests``: the MD5s SQS answers (of a body, of message attributes);
- ``scripts``: the Lua scripts, one per state change;
- ``store``: the Redis edge (keys in ``faas.keys``);
- ``waiters``: long polling, woken by a send;
- ``queues``: the service the APIs call (``platform.queues``).
"""
