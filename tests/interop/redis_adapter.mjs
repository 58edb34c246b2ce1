// An oidc-provider storage adapter on Redis (ioredis), for the benchmark's
// "oidc-provider with a Redis store" row. It implements the adapter interface
// oidc-provider documents: upsert, find, findByUid, findByUserCode, consume,
// destroy, revokeByGrantId. Keys carry REDIS_PREFIX so runs never collide.
import Redis from 'ioredis';

const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379/0');
const prefix = process.env.REDIS_PREFIX || 'oidc-bench:';
// Models that belong to a grant (revoked together) and that can be consumed.
const GRANT_BOUND = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);
const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest']);

const grantKey = (grantId) => `${prefix}grant:${grantId}`;
const uidKey = (uid) => `${prefix}uid:${uid}`;
const userCodeKey = (code) => `${prefix}userCode:${code}`;

export default class RedisAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${prefix}${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const tx = redis.multi();
    if (CONSUMABLE.has(this.model)) {
      tx.hset(key, { payload: JSON.stringify(payload) });
    } else {
      tx.set(key, JSON.stringify(payload));
    }
    if (expiresIn) tx.expire(key, expiresIn);
    if (GRANT_BOUND.has(this.model) && payload.grantId) {
      tx.rpush(grantKey(payload.grantId), key);
      if (expiresIn) tx.expire(grantKey(payload.grantId), expiresIn, 'GT');
    }
    for (const [field, keyOf] of [['uid', uidKey], ['userCode', userCodeKey]]) {
      if (payload[field]) {
        tx.set(keyOf(payload[field]), id);
        if (expiresIn) tx.expire(keyOf(payload[field]), expiresIn);
      }
    }
    await tx.exec();
  }

  async find(id) {
    if (!id) return undefined;
    if (!CONSUMABLE.has(this.model)) {
      const raw = await redis.get(this.key(id));
      return raw ? JSON.parse(raw) : undefined;
    }
    const { payload, ...rest } = await redis.hgetall(this.key(id));
    if (!payload) return undefined;
    return { ...JSON.parse(payload), ...(rest.consumed ? { consumed: Number(rest.consumed) } : {}) };
  }

  async findByUid(uid) {
    return this.find(await redis.get(uidKey(uid)));
  }

  async findByUserCode(userCode) {
    return this.find(await redis.get(userCodeKey(userCode)));
  }

  async consume(id) {
    await redis.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
  }

  async destroy(id) {
    await redis.del(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const keys = await redis.lrange(grantKey(grantId), 0, -1);
    await redis.del(...keys, grantKey(grantId));
  }
}
