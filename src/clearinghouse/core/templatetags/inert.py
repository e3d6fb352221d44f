"""Template filters for showing hostile report text: ``{{ value|inert }}``, ``{{ value|hidden_count }}``."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from clearinghouse.core import inert as inert_core

register = template.Library()


@register.filter(name="inert")
def inert(value: object) -> SafeString:
    """Escape ``value`` and reveal invisible characters. Safe because ``to_html`` escapes everything."""
    return mark_safe(inert_core.to_html("" if value is None else str(value)))  # noqa: S308


@register.filter(name="hidden_count")
def hidden_count(value: object) -> int:
    return inert_core.count_hidden("" if value is None else str(value))
