"""The data model of SMS Desk, one module per area; everything is importable from here."""

from .calls import *  # noqa: F403
from .campaigns import *  # noqa: F403
from .inbound import *  # noqa: F403
from .insight import *  # noqa: F403
from .messaging import *  # noqa: F403
