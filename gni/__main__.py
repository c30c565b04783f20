"""`python -m gni` is the `gni` command."""

from gni.cli import main

raise SystemExit(main())
