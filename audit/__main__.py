"""`python -m audit` runs the command-line interface."""
from audit.cli.main import main

raise SystemExit(main())
