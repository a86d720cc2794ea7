"""Settings: every business rule is configurable and reaches the workflow's RuleConfig."""

from __future__ import annotations

import pytest

from ilea.messages import RuleConfig
from ilea.settings import Settings


def test_every_rule_is_a_setting_and_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(RuleConfig.model_fields) <= set(Settings.model_fields)
    monkeypatch.setenv("ILEA_MIN_LEAD_DAYS", "45")
    monkeypatch.setenv("ILEA_ISG_ROUND_BUSINESS_DAYS", "7")
    monkeypatch.setenv("ILEA_FAST_TRACK_MAX_COST_USD", "99000.50")
    rules = Settings().rules()
    assert (rules.min_lead_days, rules.isg_round_business_days, str(rules.fast_track_max_cost_usd)) == (
        45,
        7,
        "99000.50",
    )
    assert rules.board_business_days == 15  # untouched defaults stay product.md's


def test_temporal_settings_use_temporals_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "ilea")
    s = Settings()
    assert (s.temporal_address, s.temporal_namespace) == ("temporal.internal:7233", "ilea")
