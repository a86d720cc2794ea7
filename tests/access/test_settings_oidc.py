"""The sign-in settings refuse what cannot work, and token roles are trusted only outside production."""

from __future__ import annotations

from pathlib import Path

import pytest

from ilea.settings import Settings


def test_token_roles_are_trusted_by_default_only_outside_production() -> None:
    assert Settings(env="development").roles_from_claims
    assert Settings(env="test").roles_from_claims
    assert not Settings(env="production", jwt_secret="p" * 40).roles_from_claims
    assert Settings(env="production", jwt_secret="p" * 40, trust_token_roles=True).roles_from_claims
    assert not Settings(env="development", trust_token_roles=False).roles_from_claims


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({}, "ILEA_OIDC_CLIENT_ID is needed"),
        ({"oidc_client_id": "ilea"}, "needs ILEA_OIDC_CLIENT_SECRET"),
        ({"oidc_client_id": "ilea", "oidc_client_auth": "private_key_jwt"}, "needs ILEA_OIDC_PRIVATE_KEY_PATH"),
        # Without `openid` the provider sends no ID token and Authlib makes no nonce: every
        # sign-in was a 500 (a KeyError on the missing nonce).
        ({"oidc_client_id": "ilea", "oidc_client_secret": "s", "oidc_scopes": "email profile"}, "must include openid"),
        # A fixed state or nonce would be the same for every sign-in (replayable), and the
        # second sign-in under way would collide with the first on oidc_logins' key.
        (
            {"oidc_client_id": "ilea", "oidc_client_secret": "s", "oidc_auth_params": {"nonce": "n", "state": "s"}},
            "ILEA_OIDC_AUTH_PARAMS cannot set nonce, state",
        ),
        (
            {"oidc_client_id": "ilea", "oidc_client_secret": "s", "oidc_auth_params": {"redirect_uri": "https://x"}},
            "cannot set redirect_uri",
        ),
    ],
)
def test_an_incomplete_provider_configuration_is_refused(values: dict[str, str], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Settings(oidc_issuer="https://idp.example.gov", **values)


def test_a_complete_one_is_taken(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    settings = Settings(
        oidc_issuer="https://idp.int.identitysandbox.gov",
        oidc_client_id="urn:gov:gsa:openidconnect.profiles:sp:sso:state:ilea",
        oidc_client_auth="private_key_jwt",
        oidc_private_key_path=key,
        oidc_auth_params={"acr_values": "urn:acr.login.gov:auth-only", "prompt": "select_account"},
    )
    assert settings.oidc_auth_params["acr_values"] == "urn:acr.login.gov:auth-only"
    assert Settings(oidc_issuer="https://x", oidc_client_id="c", oidc_client_secret="s").oidc_client_secret == "s"


def test_authorization_parameters_are_json_and_blank_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose passes ILEA_OIDC_AUTH_PARAMS through blank when the operator sets none."""
    monkeypatch.setenv("ILEA_OIDC_AUTH_PARAMS", " ")
    assert Settings().oidc_auth_params == {}
    monkeypatch.setenv("ILEA_OIDC_AUTH_PARAMS", '{"acr_values": "urn:acr.login.gov:auth-only"}')
    assert Settings().oidc_auth_params == {"acr_values": "urn:acr.login.gov:auth-only"}
    monkeypatch.setenv("ILEA_OIDC_AUTH_PARAMS", "acr_values=urn:acr.login.gov:auth-only")
    with pytest.raises(ValueError, match="oidc_auth_params"):
        Settings()
