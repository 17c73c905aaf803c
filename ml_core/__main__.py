"""`python -m ml_core <command> ...`: the command-line interface of the ML core."""
from ml_core.cli import main

raise SystemExit(main())
