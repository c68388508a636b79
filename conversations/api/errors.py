"""One error body for every 4xx of the API.

    {"success": false, "error": "<one sentence>", "code": "<machine code>",
     "fields": {"<field>": ["<message>", ...]}}

`success` and `error` are the keys the seed's clients already read.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail):
    if isinstance(detail, dict):
        return {key: _messages(value) for key, value in detail.items()}
    return {"non_field_errors": _messages(detail)}


def _messages(value):
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(_messages(item) if isinstance(item, list | dict) else [str(item)])
        return out
    if isinstance(value, dict):
        return [f"{key}: {msg}" for key, msgs in value.items() for msg in _messages(msgs)]
    return [str(value)]


def error_body(message, code, fields=None):
    return {"success": False, "error": message, "code": code, "fields": fields or {}}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first_field, first_messages = next(iter(fields.items()), ("", ["Invalid input."]))
        prefix = "" if first_field == "non_field_errors" else f"{first_field}: "
        body = error_body(f"{prefix}{first_messages[0]}", "invalid", fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = error_body(str(detail), code if isinstance(code, str) else "error")
    response.data = body
    return response


def not_found(message):
    return Response(error_body(message, "not_found"), status=status.HTTP_404_NOT_FOUND)
