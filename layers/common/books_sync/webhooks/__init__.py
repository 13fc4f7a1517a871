"""Zoho's webhooks: the request rules (secret.py, request.py), the receiver (receiver.py) and the worker
that reads each named record from Zoho and applies it (apply.py)."""
