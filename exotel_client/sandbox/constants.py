"""Defaults shared by the server, the CLI and the tests."""

SANDBOX_API_KEY = "sandbox-key"
SANDBOX_API_TOKEN = "sandbox-token"
SANDBOX_ACCOUNT_SID = "sandbox"
SANDBOX_EXOPHONE = "08047112345"
SANDBOX_SENDER_ID = "SNDBOX"
DEFAULT_APP_URL = "http://127.0.0.1:8000"
DEFAULT_PORT = 8025
