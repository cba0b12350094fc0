"""The benchmark suite of issue 6: ``python bench/run.py`` (see bench/README.md)."""
