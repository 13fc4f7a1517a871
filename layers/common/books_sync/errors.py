"""Errors a step raises on purpose. Their class names are the error names Step Functions sees."""

from __future__ import annotations


class UnknownTenant(LookupError):
    """No tenant with this user id."""


class TenantNotActive(RuntimeError):
    """The tenant exists but its Zoho connection is not active (needs re-authorization, or disabled)."""
