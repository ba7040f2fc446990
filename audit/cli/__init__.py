"""Command-line interface: `python -m audit <command>` or `memaudit <command>`."""
