"""The messages campuspass sends and the named values each offers to an SMS template.

Chinese SMS providers (Alibaba Cloud, Tencent Cloud) send no free text: each message is a
template approved in the provider's console, named by a template code, filled with parameters.
``[sms.templates.<purpose>]`` in server.toml names the template of each message below and which
of its values fill the template (docs/sms.md). The file and HTTP gateways send the full text of
``[workflow] sms_*`` instead.
"""

from __future__ import annotations

PURPOSE_FIELDS: dict[str, tuple[str, ...]] = {
    "phone_code": ("code", "minutes"),
    "login_code": ("code", "minutes"),
    "application_approved": ("name", "number", "date"),
    "application_rejected": ("name", "number", "date", "stage", "reason", "phone"),
    "checkin_abnormal": ("name", "number", "date"),
    "checkin_reminder": ("name", "number", "date"),
}
"""``{purpose: values it offers}``: ``code`` the 6-digit phone-binding or login code (the latter
sent to a throttled account's verified phone), ``minutes`` its validity,
``name``/``number`` the person (for ``checkin_abnormal``: the person with the abnormal check-in,
sent to their counsellor), ``date`` the planned return date or the check-in day (YYYY-MM-DD),
``stage`` 院系/学校, ``reason`` the rejection reason, ``phone`` the prevention office's number."""

PURPOSES: tuple[str, ...] = tuple(PURPOSE_FIELDS)
