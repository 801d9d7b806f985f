"""The ``hive`` command line (typer + rich)."""
