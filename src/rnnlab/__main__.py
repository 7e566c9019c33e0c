"""`python -m rnnlab`: the `rnnlab` command, for callers that hold an interpreter, not a PATH."""

import sys

from rnnlab.cli import main

sys.exit(main())
