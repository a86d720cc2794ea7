"""The `ilea` command line (``cli.main``): above the API and the worker, which it starts."""
