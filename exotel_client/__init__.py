"""A small, strict client for Exotel's SMS API (send, bulk send, message details).

Standalone: no Django. See INTERFACE.md for the contract this package keeps.
"""

from .client import REGION_MUMBAI, REGION_SINGAPORE, ExotelClient
from .encoding import MAX_BODY_LENGTH, BodyAnalysis, analyse_body
from .errors import (
    ExotelAPIError,
    ExotelAuthError,
    ExotelConnectionError,
    ExotelError,
    ExotelRateLimitError,
    ExotelServerError,
    ExotelTimeoutError,
    ExotelValidationError,
)
from .models import BulkItem, BulkMessage, BulkResult, SmsMessage
from .phone import normalise_number
from .statuses import (
    API_ERROR_CODES,
    DLT_REJECTION_CODES,
    FINAL_STATUSES,
    STATUS_CODES,
    STATUSES,
    ApiErrorInfo,
    StatusInfo,
    describe_code,
    normalise_status,
)

__all__ = [
    "API_ERROR_CODES",
    "DLT_REJECTION_CODES",
    "FINAL_STATUSES",
    "MAX_BODY_LENGTH",
    "REGION_MUMBAI",
    "REGION_SINGAPORE",
    "STATUSES",
    "STATUS_CODES",
    "ApiErrorInfo",
    "BodyAnalysis",
    "BulkItem",
    "BulkMessage",
    "BulkResult",
    "ExotelAPIError",
    "ExotelAuthError",
    "ExotelClient",
    "ExotelConnectionError",
    "ExotelError",
    "ExotelRateLimitError",
    "ExotelServerError",
    "ExotelTimeoutError",
    "ExotelValidationError",
    "SmsMessage",
    "StatusInfo",
    "analyse_body",
    "describe_code",
    "normalise_number",
    "normalise_status",
]
