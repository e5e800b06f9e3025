"""``python -m privacy`` is ``python -m privacy.retention``."""
import sys

from privacy.retention import main

sys.exit(main())
