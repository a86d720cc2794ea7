"""The one Settings class: built once at start-up and passed to whatever needs it."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ilea.messages import RuleConfig

#: Signing key used only in development; refused anywhere else.
DEV_JWT_SECRET = "ilea-development-signing-key-do-not-use-in-production"

TASK_QUEUE = "ilea-proposals"


#: Authorization parameters ILEA sets itself, fresh for each sign-in or from settings of their own.
OIDC_PER_SIGN_IN = frozenset(
    {"state", "nonce", "code_challenge", "code_challenge_method", "redirect_uri", "client_id", "response_type", "scope"}
)


def redact_url(url: str) -> str:
    """``url`` with the password, if any, replaced by ``***`` (for printing a DSN)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", url)


class Settings(BaseSettings):
    """Configuration from the environment (``ILEA_`` prefix; Temporal's own names for Temporal).

    Raises:
        ValueError: if the development signing key is used outside development.
    """

    # hide_input_in_errors: a refused setting is named in the error, never echoed with the
    # other inputs (a ValidationError would otherwise print them, the signing key included).
    model_config = SettingsConfigDict(env_prefix="ILEA_", extra="ignore", hide_input_in_errors=True)

    env: Literal["development", "test", "production"] = "development"

    # PostgreSQL: when unset, `ilea dev` starts an embedded server and sets it.
    database_url: str | None = Field(None, repr=False)  # holds the password
    #: the tables' owner, for `ilea migrate` (default: ILEA_DATABASE_URL). The API and the worker
    #: log in with ILEA_DATABASE_URL as a member of ilea_app, which cannot rewrite audit rows.
    migration_database_url: str | None = Field(None, repr=False)  # holds the password
    db_pool_min: int = 2
    db_pool_max: int = 10
    #: bound on connecting, on each statement and on waiting for a pooled connection (API and
    #: worker): a PostgreSQL that hangs rather than refuses is an error in seconds, not a hang
    db_timeout_seconds: float = Field(5.0, gt=0)

    # Temporal, under the environment names Temporal's own tools use.
    temporal_address: str = Field(
        "127.0.0.1:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS", "ILEA_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        "default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "ILEA_TEMPORAL_NAMESPACE")
    )
    temporal_api_key: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_API_KEY", "ILEA_TEMPORAL_API_KEY"), repr=False
    )
    temporal_tls_cert: Path | None = Field(
        None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_CERT_PATH", "ILEA_TEMPORAL_TLS_CERT"),
    )
    temporal_tls_key: Path | None = Field(
        None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_KEY_PATH", "ILEA_TEMPORAL_TLS_KEY"),
    )
    task_queue: str = TASK_QUEUE
    #: workflows kept in worker memory (~0.4 MiB each); others replay their history when next needed
    worker_max_cached_workflows: int = 400
    #: names this worker to Temporal as ``<name>@<hostname>`` (default ``<pid>@<hostname>``), so
    #: that deploy/worker_probe.py can tell two workers on one host apart
    worker_name: str | None = None

    # HTTP API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    #: every request is answered within this (product.md "Availability"): an action whose
    #: Update is not through by then answers 503 and may still take effect
    request_timeout_seconds: float = Field(15.0, gt=2)
    #: /readyz wants a worker poll of the task queue at most this old. An idle worker's long
    #: poll lasts the server's matching.longPollExpirationInterval (1 min by default, 5 s
    #: under `ilea dev`), so keep this above it.
    worker_poll_max_age_seconds: float = Field(75.0, gt=0)
    #: /docs and /openapi.json; by default on, except in production
    docs_enabled: bool | None = None
    max_body_bytes: int = 256 * 1024
    #: per caller and API process; 0 turns the limit off
    rate_limit_per_minute: int = 6000
    rate_limit_burst: int = 600
    #: how long a POST's Idempotency-Key answers retries with its first response; older keys
    #: are deleted (a retry after that runs again, and Temporal's update id still deduplicates)
    idempotency_retention_hours: float = Field(24.0, gt=0)

    # Identity: HS256 with a shared key by default, or RS256 keys from a JWKS URL.
    jwt_secret: str = Field(DEV_JWT_SECRET, repr=False)
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "ilea-dev"
    jwt_audience: str = "ilea-api"
    token_ttl_hours: int = 12
    #: in production, a token whose `exp` is more than this after its `iat` is refused (401)
    jwt_max_lifetime_hours: float = Field(12.0, gt=0)

    # --- sign-in with OpenID Connect; roles granted in ILEA (issue 18) ---
    #: the identity provider (discovery at <issuer>/.well-known/openid-configuration); unset: no OIDC sign-in
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = Field(None, repr=False)
    #: how ILEA authenticates at the token endpoint (Login.gov requires private_key_jwt)
    oidc_client_auth: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = "client_secret_basic"
    #: the PEM private key for private_key_jwt (its public half is registered with the provider)
    oidc_private_key_path: Path | None = None
    #: the ``kid`` of that key, when the provider holds several of the client's keys
    oidc_private_key_id: str | None = None
    oidc_scopes: str = "openid email profile"
    #: extra authorization parameters, e.g. {"acr_values": "urn:acr.login.gov:auth-only"}; JSON, blank for none
    oidc_auth_params: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    #: the callback address registered with the provider (https://ilea.example.gov/ui/auth/callback);
    #: unset: built from the request (development)
    oidc_redirect_uri: str | None = None
    #: where the provider sends the browser after signing out there (…/ui/signed-out); unset: from the request
    oidc_post_logout_redirect_uri: str | None = None
    #: send the ID token as id_token_hint when signing out at the provider (Login.gov takes client_id only)
    oidc_logout_id_token_hint: bool = True
    #: ILEA_TRUST_TOKEN_ROLES: agency and roles from token claims instead of grants (development,
    #: service accounts); unset means true outside production and false in production
    trust_token_roles: bool | None = None
    #: a web session ends after this long without a request, and this long after sign-in at the latest
    session_idle_minutes: float = Field(30, gt=0)
    session_max_hours: float = Field(12, gt=0)
    #: sessions one person may hold at once (a browser each); a sign-in past it ends their oldest
    session_max_per_person: int = Field(10, ge=1, le=1000)
    #: how often the access-log witness reads the log's head (workflows/access_witness.py)
    access_witness_seconds: float = Field(30, gt=0, le=3600)
    # --- end of issue 18's settings ---

    # Business rules (product.md defaults), all configurable.
    isg_round_business_days: int = 10
    isg_reminder_business_days: int = 2
    revision_window_business_days: int = 20
    max_revisions: int = 3
    board_business_days: int = 15
    board_reminder_business_days: int = 3
    request_business_days: int = 10
    request_reminder_business_days: int = 2
    staffing_cutoff_days: int = 30
    staffing_cutoff_min_days: int = 7
    min_lead_days: int = 60
    #: the latest a course may start, in days after its submission (or revision): 3 years
    max_horizon_days: int = 1095
    fast_track_max_cost_usd: Decimal = Decimal("150000")

    # Embedded development stack (`ilea dev`).
    state_dir: Path = Path(".ilea")
    dev_pg_port: int = 54329
    dev_temporal_port: int = 7233
    dev_temporal_ui_port: int = 8233

    # Email (SMTP) delivery of notifications: off unless a host is set.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "ilea-noreply@state.gov"
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, repr=False)
    #: STARTTLS: True requires it, False never, None uses it when the server offers it.
    smtp_starttls: bool | None = None
    smtp_timeout_seconds: float = 30
    #: attempts per notification before it is marked 'failed'
    smtp_max_attempts: int = 5
    smtp_poll_seconds: float = 10
    #: party → address(es), e.g. {"isg:DHS": "isg-dhs@dhs.gov"}; unlisted parties get ilea-<role>@<agency domain>
    notify_addresses: dict[str, str] = Field(default_factory=dict)
    #: a row left in 'sending' this long (its sender died mid-send) is claimed and sent again
    smtp_claim_timeout_minutes: float = 15
    #: ILEA_EMAIL_DIGEST: instead of one email per notification, one email a day per party
    email_digest: bool = False
    #: the hour (0-23, US Eastern time) the daily digest goes out
    email_digest_hour: int = Field(7, ge=0, le=23)

    log_json: bool = False

    # Observability.
    #: the worker's Prometheus endpoint for Temporal SDK metrics (off when unset)
    worker_metrics_port: int | None = None
    #: the API's Prometheus endpoint (/metrics), on a port of its own so that whatever routes
    #: the API's port (an Ingress, a proxy) never exposes it (off when unset)
    api_metrics_port: int | None = None
    #: the address both metrics endpoints listen on; 0.0.0.0 only where a scraper needs it
    metrics_host: str = "127.0.0.1"
    #: OpenTelemetry tracing through Temporal's interceptor, exported to OTEL_EXPORTER_OTLP_ENDPOINT
    otel_enabled: bool = False
    otel_service_name: str = "ilea"

    @field_validator("oidc_auth_params", mode="before")
    @classmethod
    def _auth_params_from_json(cls, value: Any) -> Any:
        # Blank means none, so a deployment can pass the variable through whether it is set or not
        # (Compose's ${ILEA_OIDC_AUTH_PARAMS:-} cannot default to "{}").
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @model_validator(mode="after")
    def _docs_off_in_production(self) -> Settings:
        if self.docs_enabled is None:
            self.docs_enabled = self.env != "production"
        return self

    @model_validator(mode="after")
    def _refuse_dev_secret_outside_development(self) -> Settings:
        # Checked with RS256 too: the key also makes the web forms' CSRF tokens (api.web.session),
        # which a public or empty key would let anyone forge.
        if self.env == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("ILEA_JWT_SECRET is the development key; set a real key when ILEA_ENV=production")
        if self.env == "production" and len(self.jwt_secret) < 32:
            raise ValueError("ILEA_JWT_SECRET must be at least 32 characters in production")
        self._check_oidc()
        return self

    def _check_oidc(self) -> None:
        if not self.oidc_issuer:
            return
        if not self.oidc_client_id:
            raise ValueError("ILEA_OIDC_CLIENT_ID is needed with ILEA_OIDC_ISSUER")
        if self.oidc_client_auth == "private_key_jwt" and not self.oidc_private_key_path:
            raise ValueError("ILEA_OIDC_CLIENT_AUTH=private_key_jwt needs ILEA_OIDC_PRIVATE_KEY_PATH")
        if self.oidc_client_auth != "private_key_jwt" and not self.oidc_client_secret:
            raise ValueError(f"ILEA_OIDC_CLIENT_AUTH={self.oidc_client_auth} needs ILEA_OIDC_CLIENT_SECRET")
        if "openid" not in self.oidc_scopes.split():
            raise ValueError(f"ILEA_OIDC_SCOPES must include openid (it is {self.oidc_scopes!r})")
        fixed = sorted(OIDC_PER_SIGN_IN.intersection(self.oidc_auth_params))
        if fixed:
            raise ValueError(
                f"ILEA_OIDC_AUTH_PARAMS cannot set {', '.join(fixed)}: ILEA makes them for each sign-in"
                " (ILEA_OIDC_SCOPES and ILEA_OIDC_REDIRECT_URI are settings of their own)"
            )

    @property
    def roles_from_claims(self) -> bool:
        """Whether a token's own agency and roles claims are believed (ILEA_TRUST_TOKEN_ROLES)."""
        return self.env != "production" if self.trust_token_roles is None else self.trust_token_roles

    def rules(self) -> RuleConfig:
        """The business-rule parameters the workflow is started with."""
        # Every rule has a setting of the same name (ILEA_<NAME>), so none can be left out.
        return RuleConfig(**{name: getattr(self, name) for name in RuleConfig.model_fields})
