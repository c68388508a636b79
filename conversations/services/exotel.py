"""The one place the app builds its Exotel client from settings (one pooled client per process)."""

from functools import lru_cache

from django.conf import settings

from exotel_client import ExotelClient


@lru_cache(maxsize=1)
def _client(api_key, api_token, account_sid, subdomain, base_url) -> ExotelClient:
    return ExotelClient(api_key, api_token, account_sid, subdomain=subdomain, base_url=base_url)


def get_exotel_client() -> ExotelClient:
    return _client(
        settings.EXOTEL_API_KEY,
        settings.EXOTEL_API_TOKEN,
        settings.EXOTEL_ACCOUNT_SID,
        settings.EXOTEL_SUBDOMAIN,
        settings.EXOTEL_BASE_URL or None,
    )
