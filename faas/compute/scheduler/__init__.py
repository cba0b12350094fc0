"""The scheduler: a warm pool of instances per function, indexed by pool key.

``acquire`` places an invocation on an instance and takes it back; ``waiters``
queues the calls waiting for one; ``fleet`` holds the instances and the counts
the caps need; ``building`` makes a new instance's sandbox (from the generic
pool or anew); ``upkeep`` reaps idle instances and keeps some warm.
"""

from faas.compute.scheduler.acquire import OnStart, Scheduler

__all__ = ["OnStart", "Scheduler"]
