"""`python -m sandbox`: the same as `vault-agent sandbox`."""

import sys

from .runner import main

sys.exit(main())
