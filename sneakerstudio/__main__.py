"""`python -m sneakerstudio` runs the same command line as the `sneakerstudio` script."""

from sneakerstudio.cli import main

raise SystemExit(main())
