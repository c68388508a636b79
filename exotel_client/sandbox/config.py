"""Settings of one sandbox instance."""

import os
from dataclasses import dataclass

from exotel_client.sandbox.constants import (
    DEFAULT_APP_URL,
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY,
    SANDBOX_API_TOKEN,
    SANDBOX_EXOPHONE,
    SANDBOX_SENDER_ID,
)


@dataclass(frozen=True)
class SandboxConfig:
    """How the fake Exotel behaves; see ``python -m exotel_client.sandbox --help``."""

    api_key: str = SANDBOX_API_KEY
    api_token: str = SANDBOX_API_TOKEN
    account_sid: str = SANDBOX_ACCOUNT_SID
    callback_delay: float = 1.0
    intermediate_callbacks: bool = False
    callback_retry_delays: tuple[float, ...] = (1.0, 5.0, 15.0)
    callback_timeout: float = 5.0
    default_sender: str | None = None
    exophone: str = SANDBOX_EXOPHONE
    sender_id: str = SANDBOX_SENDER_ID
    app_url: str = DEFAULT_APP_URL
    webhook_token: str | None = None
    log_requests: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None


def credentials_from_env() -> dict[str, str]:
    """The credentials the app reads, so app and sandbox agree without extra setup."""
    return {
        "api_key": os.environ.get("EXOTEL_API_KEY") or SANDBOX_API_KEY,
        "api_token": os.environ.get("EXOTEL_API_TOKEN") or SANDBOX_API_TOKEN,
        "account_sid": os.environ.get("EXOTEL_ACCOUNT_SID") or SANDBOX_ACCOUNT_SID,
    }
