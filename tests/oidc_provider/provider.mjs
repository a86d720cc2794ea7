// A real OpenID provider for ILEA's tests: panva/oidc-provider (OpenID Certified),
// configured from the JSON file named on the command line by tests/oidc_provider/__init__.py.
//
// Its development login page accepts any login (that becomes the person's `sub`) and any
// password; consent is granted without a prompt (ILEA is a first-party client). PKCE is
// required of every client, as ILEA always sends it.
//
// `resources` (optional) are APIs with JWT access tokens (RFC 8707 resource indicators,
// RFC 9068 tokens), as Okta, Entra ID or Keycloak issue them for an API: a client asking for
// `resource=<indicator>` gets an access token whose `aud` is the indicator.
import { readFileSync } from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const people = config.people || {};
const resources = config.resources || {};

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: [config.cookie_key] },
  pkce: { required: () => true },
  // Name and email in the ID token itself (not only from the userinfo endpoint).
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    // Only for the test of ILEA_TRUST_TOKEN_ROLES: a provider that asserts roles.
    ilea: ['agency', 'roles'],
  },
  scopes: ['openid', 'email', 'profile', 'ilea'],
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The token request may leave `resource` out: the one granted at authorization counts.
      useGrantedResource: () => true,
      async getResourceServerInfo(_ctx, indicator) {
        const api = resources[indicator];
        if (!api) {
          throw new errors.InvalidTarget();
        }
        return {
          audience: indicator,
          scope: api.scope,
          accessTokenTTL: api.ttl || 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  async findAccount(_ctx, id) {
    const person = people[id] || {};
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          name: person.name || id,
          email: person.email || `${id}@example.gov`,
          email_verified: true,
          ...(person.claims || {}),
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
    grant.addOIDCClaims(['name', 'email', 'email_verified', 'agency', 'roles']);
    for (const [indicator, api] of Object.entries(ctx.oidc.resourceServers || {})) {
      grant.addResourceScope(indicator, api.scope);
    }
    await grant.save();
    return grant;
  },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(config.port, '127.0.0.1', () => {
  console.log(`ready ${config.issuer}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
