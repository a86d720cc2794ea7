"""``python -m cli <command>``: what `ilea dev` runs for the worker and the API."""

from cli.main import main

main()
