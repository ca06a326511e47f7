import { randomBytes, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { ConfdError } from '../errors.ts';
import { formatDuration } from '../validation/duration.ts';
import type { Store } from '../store/db.ts';
import { appendAudit } from '../store/audit.ts';
import { findToken, recordToken, pruneTokens } from '../store/tokens.ts';
import type { TokenRecord } from '../store/schema.ts';
import { isRoomName, roomNameError } from '../protocol/room-name.ts';
import { counters } from '../metrics.ts';

export const TOKEN_ISSUER = 'confd';
export const TOKEN_AUDIENCE = 'confd-join';
/** Anything longer is not a token we issued; refuse before doing any crypto on it. */
export const TOKEN_MAX_LENGTH = 2048;

export interface JoinClaims {
  iss: string;
  aud: string;
  sub: string;
  room: string;
  presenter: boolean;
  jti: string;
  iat: number;
  nbf: number;
  exp: number;
}

export type TokenRefusal =
  | 'malformed'
  | 'bad_algorithm'
  | 'bad_signature'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_room'
  | 'unknown'
  | 'revoked';

/** What a guest is told for each refusal: plain words, no internals. */
export const REFUSAL_MESSAGES: Record<TokenRefusal, string> = {
  malformed: 'This join link is damaged: the token could not be read.',
  bad_algorithm: 'This join link uses an unsupported token type.',
  bad_signature: 'This join link was not issued by this server.',
  wrong_issuer: 'This join link was not issued by this server.',
  wrong_audience: 'This token is not a join token.',
  expired: 'This join link has expired. Ask the host for a new one.',
  not_yet_valid: 'This join link is not valid yet.',
  wrong_room: 'This join link is for a different room.',
  unknown: 'This join link is not known to this server. Ask the host for a new one.',
  revoked: 'This join link has been revoked. Ask the host for a new one.',
};

export type VerifyResult = { ok: true; claims: JoinClaims } | { ok: false; reason: TokenRefusal; message: string };

export interface IssueRequest {
  room: string;
  /** A user name, or "guest". */
  sub: string;
  presenter: boolean;
  ttlSeconds: number;
  /** Who asked, for the audit trail ("admin", "api"). */
  actor: string;
}

export interface IssuedToken {
  token: string;
  record: TokenRecord;
}

export interface JoinTokens {
  issue(req: IssueRequest): Promise<IssuedToken>;
  verifyJoinToken(token: string, room: string): VerifyResult;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
}

/** 16 base64url characters, never starting with "-": "confctl token revoke ID" must not read an id as an option. */
function newTokenId(): string {
  for (;;) {
    const id = randomBytes(12).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

const refuse = (reason: TokenRefusal): VerifyResult => ({ ok: false, reason, message: REFUSAL_MESSAGES[reason] });

/**
 * Claim times are whole seconds that a Date can hold (a presenter token's exp becomes an IP's expiry,
 * computed from the current time with its milliseconds: hence the last second is left out).
 */
const MAX_DATE_SECONDS = 8.64e12 - 1;
const isTime = (t: unknown): t is number => Number.isSafeInteger(t) && (t as number) >= 0 && (t as number) <= MAX_DATE_SECONDS;

function claimsShapeOk(p: jwt.JwtPayload): p is JwtPayloadWithClaims {
  return (
    typeof p.sub === 'string' &&
    typeof p.room === 'string' &&
    typeof p.presenter === 'boolean' &&
    typeof p.jti === 'string' &&
    isTime(p.iat) &&
    isTime(p.nbf) &&
    isTime(p.exp)
  );
}
type JwtPayloadWithClaims = jwt.JwtPayload & JoinClaims;

export function createJoinTokens(opts: {
  key: KeyObject;
  store: Store;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  now?: () => Date;
}): JoinTokens {
  const { key, store, defaultTtlSeconds, maxTtlSeconds } = opts;
  const now = opts.now ?? (() => new Date());

  return {
    defaultTtlSeconds,
    maxTtlSeconds,

    async issue(req) {
      if (!isRoomName(req.room)) throw new ConfdError('bad_request', roomNameError(req.room));
      if (!Number.isInteger(req.ttlSeconds) || req.ttlSeconds < 1) throw new ConfdError('bad_request', 'ttl must be at least 1 second');
      if (req.ttlSeconds > maxTtlSeconds) {
        throw new ConfdError(
          'refused',
          `ttl ${formatDuration(req.ttlSeconds)} is above the configured maximum jwt.maxTtl (${formatDuration(maxTtlSeconds)}); ask for a shorter --ttl or raise jwt.maxTtl`,
        );
      }
      const t = now();
      const iat = Math.floor(t.getTime() / 1000);
      const id = newTokenId();
      const claims: JoinClaims = {
        iss: TOKEN_ISSUER,
        aud: TOKEN_AUDIENCE,
        sub: req.sub,
        room: req.room,
        presenter: req.presenter,
        jti: id,
        iat,
        nbf: iat,
        exp: iat + req.ttlSeconds,
      };
      const token = jwt.sign(claims, key, { algorithm: 'HS256' });
      const record: TokenRecord = {
        id,
        room: req.room,
        sub: req.sub,
        presenter: req.presenter,
        issuedAt: new Date(iat * 1000).toISOString(),
        expiresAt: new Date(claims.exp * 1000).toISOString(),
        revokedAt: null,
      };
      // The registry entry is durable before the token is handed out: a token we cannot revoke is never issued.
      await store.mutate((d) => {
        pruneTokens(d, t);
        recordToken(d, record);
        appendAudit(d, t, 'token.issue', req.actor, { id, room: req.room, sub: req.sub, presenter: req.presenter, expiresAt: record.expiresAt });
      });
      counters.tokensIssued++;
      return { token, record };
    },

    verifyJoinToken(token, room) {
      if (typeof token !== 'string' || token.length === 0 || token.length > TOKEN_MAX_LENGTH) return refuse('malformed');
      let decoded: jwt.Jwt | null;
      try {
        // jws throws (rather than answering null) for a "typ":"JWT" header over a payload that is not JSON.
        decoded = jwt.decode(token, { complete: true });
      } catch {
        return refuse('malformed');
      }
      if (!decoded || typeof decoded.payload !== 'object') return refuse('malformed');
      if (decoded.header.alg !== 'HS256') return refuse('bad_algorithm');
      let payload: jwt.JwtPayload;
      try {
        payload = jwt.verify(token, key, {
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
          audience: TOKEN_AUDIENCE,
          clockTimestamp: Math.floor(now().getTime() / 1000),
        }) as jwt.JwtPayload;
      } catch (e) {
        if (e instanceof jwt.TokenExpiredError) return refuse('expired');
        if (e instanceof jwt.NotBeforeError) return refuse('not_yet_valid');
        const msg = (e as Error).message;
        if (msg.includes('signature')) return refuse('bad_signature');
        if (msg.includes('audience')) return refuse('wrong_audience');
        if (msg.includes('issuer')) return refuse('wrong_issuer');
        if (msg.includes('algorithm')) return refuse('bad_algorithm');
        return refuse('malformed');
      }
      if (!claimsShapeOk(payload)) return refuse('malformed');
      if (payload.room !== room) return refuse('wrong_room');
      const rec = findToken(store.data, payload.jti);
      if (!rec) return refuse('unknown');
      if (rec.revokedAt) return refuse('revoked');
      return { ok: true, claims: payload };
    },
  };
}
