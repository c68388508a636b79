"""Keep secrets out of logs: a filter that blanks `token=...` (and similar) in every record.

Exotel calls our webhooks with `?token=<EXOTEL_WEBHOOK_TOKEN>`; request lines logged by
Django's development server or by gunicorn's access log would otherwise carry it.
"""

import logging
import re

from pythonjsonlogger.json import JsonFormatter

SECRET_PARAMETER = re.compile(
    r"(?i)\b(token|api[_-]?key|api[_-]?token|password|secret|signature|sessionid|csrftoken)"
    r"(=|%3D)([^&\s\"';,]+)"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return SECRET_PARAMETER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


_traceback_formatter = logging.Formatter()


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record's message, its traceback and stack (which can quote a URL or a
    query's parameters) and its request line, if any, without secret values."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        request_line = getattr(record, "request_line", None)
        if isinstance(request_line, str):
            record.request_line = redact(request_line)
        if record.exc_info and not record.exc_text:
            # Formatters use this text rather than formatting the exception again.
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter formats `exc_info` itself (not the filter's cached
    text): redact what it writes too."""

    def formatException(self, ei):
        return redact(super().formatException(ei))
