"""The Lambda API (``/2015-03-31/...`` and its later dates), served by the edge
(``gateway.edge.aws``): one module per group of operations."""
