"""Event source mappings: Lambda's SQS poller, a queue read in batches into a function.

- ``model``: a mapping as stored and shown (plain data, its states);
- ``validation``: the fields of Create/UpdateEventSourceMapping checked (pure);
- ``filters``: Lambda's event filtering (``FilterCriteria``) on an SQS record (pure);
- ``events``: the SQS event a batch becomes, the ``batchItemFailures`` answer read,
  FIFO's stop at a group's first failure (pure);
- ``scaling``: how many pollers a mapping runs, after each batch (pure);
- ``store``: mappings in Redis; ``admin``: what the APIs do to them;
- ``poller``: one mapping's pollers; ``pollers``: every enabled mapping's, in this
  process, kept in step with the store.
"""
