"""Errors the report side raises; their messages (Chinese) go to users as they are."""

from __future__ import annotations

from bot.reports.forms import FormError


class ReportError(ValueError):
    """A request the service refuses; the message (Chinese) says why and what to do."""


class SiteImportError(FormError):
    """A sites file with bad rows; nothing from it was applied."""
