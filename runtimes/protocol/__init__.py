"""What both servers of a container speak: the agent's and the Python runtime's.

The platform's ``POST /invoke`` reaches the agent, or, once our Python runtime
serves its own socket (docs/container-protocol.md, "The direct socket"), the
runtime itself; either answers it with this package, so the platform cannot tell
them apart. ``http1`` is the event loop and the HTTP/1.1 server; ``invocation``
reads an invoke and writes its answer (headers, error shapes, limits, output,
throttling). A runtime for another language speaks the same wire answer.

Standard library only, and only its small parts: the agent is PID 1 of every
container and the runtime stays in memory beside the handler. The runtime forgets
this package (``sys.modules``) before it imports the function's code, so nothing
here may import from it lazily.
"""
