"""One module per scenario of issue 6; each fills a ``bench.model.Result``."""
