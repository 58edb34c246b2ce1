// node oidc-provider on loopback, for keyturn's interop tests and benchmarks.
// Interactions are approved automatically (sign-in as ACCOUNT, consent to what
// was asked), so a script can walk the code flow with plain HTTP.
// Environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, ACCESS_TTL,
//              ADAPTER (memory | redis), REDIS_URL.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const account = process.env.ACCOUNT || 'user-1';

// memory: an unbounded Map (the benchmark's best case); redis: ioredis;
// unset: oidc-provider's own development adapter (an LRU, fine for tests).
let adapter;
if (process.env.ADAPTER === 'redis') {
  adapter = (await import('./redis_adapter.mjs')).default;
} else if (process.env.ADAPTER === 'memory') {
  adapter = (await import('./memory_adapter.mjs')).default;
}

const provider = new Provider(issuer, {
  adapter,
  clients: [{
    client_id: process.env.CLIENT_ID || 'interop',
    client_secret: process.env.CLIENT_SECRET || 'interop-secret-0123456789-abcdefghij',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [process.env.REDIRECT_URI || 'http://127.0.0.1:8123/callback'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  rotateRefreshToken: true,
  issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && code.scopes.has('offline_access'),
  ttl: {
    AccessToken: Number(process.env.ACCESS_TTL || 3600),
    RefreshToken: 14 * 24 * 3600,
    AuthorizationCode: 60,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    Interaction: 3600,
    IdToken: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: account } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope || 'openid'));
    result = { consent: { grantId: await grant.save() } };
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.redirect(to);
});

provider.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
