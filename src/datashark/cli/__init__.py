"""The `datashark` command line. Every command module imports its heavy layers lazily."""
