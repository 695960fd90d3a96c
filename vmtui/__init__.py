"""vmtui: a terminal UI for pools of test virtual machines."""

import logging

__version__ = "0.1.0"

# A library stays quiet unless the application configures logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())
