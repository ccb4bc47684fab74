"""`python -m toollife.demo`."""

import sys

from toollife.demo import main

sys.exit(main())
