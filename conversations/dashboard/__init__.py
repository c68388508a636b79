"""The supervisors' dashboard (issue 8): staff only; numbers from `services/analytics.py`."""
