"""Settings: every business rule is configurable and reaches the workflow's RuleConfig."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ilea.messages import RuleConfig
from ilea.settings import Settings, redact_url

ROOT = Path(__file__).resolve().parents[1]


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


def test_a_rules_default_is_the_same_in_settings_and_in_the_workflow_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """RuleConfig repeats Settings' rule fields (it crosses Temporal; Settings holds secrets and must not):
    a default changed in one place only would start proposals by another rule than the one documented."""
    for name in RuleConfig.model_fields:
        monkeypatch.delenv(f"ILEA_{name.upper()}", raising=False)
    assert Settings().rules() == RuleConfig()


def test_temporal_settings_use_temporals_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "ilea")
    s = Settings()
    assert (s.temporal_address, s.temporal_namespace) == ("temporal.internal:7233", "ilea")


# --- production defaults: nothing exposed unless configured ------------------------------------


def test_production_turns_docs_off_and_binds_to_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ILEA_ENV", "ILEA_DOCS_ENABLED", "ILEA_API_HOST", "ILEA_METRICS_HOST"):
        monkeypatch.delenv(name, raising=False)
    development = Settings()
    assert development.docs_enabled is True
    monkeypatch.setenv("ILEA_ENV", "production")
    monkeypatch.setenv("ILEA_JWT_SECRET", "p" * 40)
    production = Settings()
    assert production.docs_enabled is False
    assert (production.api_host, production.metrics_host) == ("127.0.0.1", "127.0.0.1")
    assert (production.api_metrics_port, production.worker_metrics_port) == (None, None)
    monkeypatch.setenv("ILEA_DOCS_ENABLED", "true")
    assert Settings().docs_enabled is True  # staging may ask for them


# --- no secret in any error or log ---------------------------------------------------------------

#: A 31-character key (one short of the minimum) and a database password, both distinctive.
SHORT_KEY = "Kq7-short-signing-key-zX9wVb2pL"
DB_PASSWORD = "Pw-zz81-not-for-your-eyes"


def _leaks(text: str, secret: str, window: int = 6) -> list[str]:
    """Every run of ``window`` characters of ``secret`` that appears in ``text``."""
    return [secret[i : i + window] for i in range(len(secret) - window + 1) if secret[i : i + window] in text]


def test_leak_finder_finds_a_partial_echo() -> None:
    """Control for the tests below: a truncated echo like pydantic's is found."""
    assert _leaks(f"input_value={{'jw...{SHORT_KEY[9:]}'}}", SHORT_KEY)
    assert not _leaks("ILEA_JWT_SECRET must be at least 32 characters", SHORT_KEY)


def test_a_refused_signing_key_is_named_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILEA_ENV", "production")
    monkeypatch.setenv("ILEA_JWT_SECRET", SHORT_KEY)
    monkeypatch.setenv("ILEA_DATABASE_URL", f"postgresql://ilea:{DB_PASSWORD}@db.internal:5432/ilea")
    with pytest.raises(ValidationError) as refused:
        Settings()
    text = str(refused.value) + repr(refused.value)
    assert "ILEA_JWT_SECRET must be at least 32 characters" in text
    assert _leaks(text, SHORT_KEY) == [] and _leaks(text, DB_PASSWORD) == []
    monkeypatch.setenv("ILEA_JWT_SECRET", SHORT_KEY + "-long-enough-now")
    shown = repr(Settings()) + str(Settings()) + redact_url(Settings().database_url or "")
    assert "db.internal" in shown and _leaks(shown, SHORT_KEY) == [] and _leaks(shown, DB_PASSWORD) == []


@pytest.mark.parametrize("command", [["-m", "cli", "api"], ["-m", "cli", "migrate"], ["worker.py"]])
def test_the_entry_points_refuse_a_short_key_without_printing_it(command: list[str]) -> None:
    """What an operator sees when `ilea api`, `ilea migrate` or the worker refuses to start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_"))}
    env |= {
        "ILEA_ENV": "production",
        "ILEA_JWT_SECRET": SHORT_KEY,
        "ILEA_DATABASE_URL": f"postgresql://ilea:{DB_PASSWORD}@127.0.0.1:9/ilea",
    }
    out = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "ILEA_JWT_SECRET must be at least 32 characters" in text, text[-2000:]
    assert _leaks(text, SHORT_KEY) == [] and _leaks(text, DB_PASSWORD) == []
