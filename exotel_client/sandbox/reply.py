"""What a route hands back to the HTTP handler."""

import json
from dataclasses import dataclass
from typing import Any

from exotel_client.sandbox.render import JSON_TYPE


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload, default=str).encode(), JSON_TYPE)
