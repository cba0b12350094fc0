"""The cluster: nodes of one installation that know each other (``nodes``), sign their
calls to each other (``signatures``), and fetch code bundles from each other
(``peers``, ``code``)."""
