"""A local fake Exotel: the SMS API, DLT checks, status callbacks and a customer who replies.

Run it with ``python -m exotel_client.sandbox --port 8025`` or, in tests::

    with SandboxServer(callback_delay=0.0) as sandbox:
        client = ExotelClient(SANDBOX_API_KEY, SANDBOX_API_TOKEN, SANDBOX_ACCOUNT_SID,
                              base_url=sandbox.base_url)
"""

from exotel_client.sandbox.constants import (
    DEFAULT_APP_URL,
    DEFAULT_PORT,
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY,
    SANDBOX_API_TOKEN,
    SANDBOX_EXOPHONE,
    SANDBOX_SENDER_ID,
)
from exotel_client.sandbox.server import SandboxServer
from exotel_client.sandbox.state import Fault, SandboxState, Template

__all__ = [
    "DEFAULT_APP_URL",
    "DEFAULT_PORT",
    "SANDBOX_ACCOUNT_SID",
    "SANDBOX_API_KEY",
    "SANDBOX_API_TOKEN",
    "SANDBOX_EXOPHONE",
    "SANDBOX_SENDER_ID",
    "Fault",
    "SandboxServer",
    "SandboxState",
    "Template",
]
