"""Console forms of replay: POSTed fields turned into the typed arguments of one service call.

Only shape is checked here (a number where a number goes, lengths the columns hold); whether the
values make sense is the service's decision (``campaign_start``, ``endpoint_register``), so the
console and the API refuse the same things with the same messages. Each refusal is an
``InvalidInput`` naming the form field, which the templates show next to that field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from django.http import QueryDict

from clearinghouse.core.errors import InvalidInput

# More than the service allows, so that its message (not a parsing one) explains the limit.
_MAX_TEMPERATURES_PARSED = 20
_MAX_ENDPOINTS_PARSED = 1000
# Bounds the service leaves to its callers: the columns would hold more, no endpoint needs more.
MAX_RETRIES = 20
MAX_TIMEOUT_SECONDS = 3600


def _text(data: QueryDict, field: str, max_length: int, *, required: bool = False) -> str:
    value = data.get(field, "").strip()
    if required and not value:
        raise InvalidInput("required", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"at most {max_length} characters", field=field)
    return value


def _integer(data: QueryDict, field: str, default: int) -> int:
    raw = data.get(field, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise InvalidInput("must be a whole number", field=field)
    return int(raw)


def _number(data: QueryDict, field: str) -> float | None:
    raw = data.get(field, "").strip()
    if not raw:
        return None
    try:
        value = float(raw[:40])
    except ValueError:
        raise InvalidInput("must be a number", field=field) from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInput("must be a number of 0 or more", field=field)
    return value


# ---- starting a campaign ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignOptions:
    trials: int
    temperatures: list[float]
    retarget: bool
    endpoint_ids: list[int]
    judge: str
    interactive: bool = False


def campaign_options_from_form(data: QueryDict) -> CampaignOptions:
    """``trials``, ``temperatures`` (comma or space separated), ``retarget`` (a checkbox),
    ``endpoints`` (checkboxes of endpoint ids; none ticked is refused, not "all") and ``judge``."""
    raw_temperatures = [part for part in re.split(r"[\s,;]+", data.get("temperatures", "")) if part]
    if len(raw_temperatures) > _MAX_TEMPERATURES_PARSED:
        raise InvalidInput("too many temperatures", field="temperatures")
    temperatures: list[float] = []
    for part in raw_temperatures:
        try:
            value = float(part[:40])
        except ValueError:
            raise InvalidInput(f"{part[:40]!r} is not a number", field="temperatures") from None
        if not math.isfinite(value):
            raise InvalidInput("each must be between 0 and 2", field="temperatures")
        temperatures.append(value)
    endpoint_ids: list[int] = []
    for raw in data.getlist("endpoints")[:_MAX_ENDPOINTS_PARSED]:
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            raise InvalidInput("choose endpoints from the list", field="endpoints")
        endpoint_ids.append(int(raw))
    if not endpoint_ids:
        raise InvalidInput("choose at least one endpoint", field="endpoints")
    return CampaignOptions(
        trials=_integer(data, "trials", 5),
        temperatures=temperatures,
        retarget=data.get("retarget") == "on",
        endpoint_ids=endpoint_ids,
        judge=_text(data, "judge", 32) or "offline",
        interactive=data.get("interactive") == "on",
    )


# ---- registering an endpoint ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointFields:
    """``endpoint_register``'s arguments except the catalog model, which ``ai_system_id`` names."""

    ai_system_id: int
    name: str
    provider: str
    base_url: str
    model_name: str
    api_key_env: str
    secrets_file: str
    max_concurrency: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    price_input_per_1k: float
    price_output_per_1k: float
    timeout_seconds: float
    max_retries: int
    is_simulator: bool


def endpoint_fields_from_form(data: QueryDict) -> EndpointFields:
    """The registration form's fields; lengths are the columns' (``replay.models``)."""
    raw_system = data.get("ai_system", "").strip()
    if not re.fullmatch(r"[0-9]{1,18}", raw_system):
        raise InvalidInput("choose the model this endpoint serves", field="ai_system")
    timeout = _number(data, "timeout_seconds")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise InvalidInput(
            f"must be more than 0 and at most {MAX_TIMEOUT_SECONDS}", field="timeout_seconds"
        )
    retries = _integer(data, "max_retries", 3)
    if retries > MAX_RETRIES:
        raise InvalidInput(f"at most {MAX_RETRIES}", field="max_retries")
    return EndpointFields(
        ai_system_id=int(raw_system),
        name=_text(data, "name", 200, required=True),
        provider=_text(data, "provider", 32) or "openai",
        base_url=_text(data, "base_url", 500, required=True),
        model_name=_text(data, "model_name", 200, required=True),
        api_key_env=_text(data, "api_key_env", 100),
        secrets_file=_text(data, "secrets_file", 500),
        max_concurrency=_integer(data, "max_concurrency", 16),
        requests_per_minute=_number(data, "requests_per_minute"),
        tokens_per_minute=_number(data, "tokens_per_minute"),
        price_input_per_1k=_number(data, "price_input_per_1k") or 0.0,
        price_output_per_1k=_number(data, "price_output_per_1k") or 0.0,
        timeout_seconds=60.0 if timeout is None else timeout,
        max_retries=retries,
        is_simulator=data.get("is_simulator") == "on",
    )
