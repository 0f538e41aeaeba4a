/**
 * The social log: activity clients record (`post.liked`, `user.followed`, …), appended to
 * the tenant's chain as `social.events.<type>` and published as an event through the outbox
 * in the same transaction. The entry and the event share one id, so when the audit
 * consumer receives that event back it finds the entry already there and adds nothing.
 */
import { randomUUID } from 'node:crypto';
import { errors } from '@gatehouse/platform/errors';
import { makeEvent } from '@gatehouse/platform/events';
import type { KvStore } from '@gatehouse/platform/kv';
import type { RateLimitSetting } from '@gatehouse/platform/config';
import { hasRole } from '@gatehouse/platform/auth';
import type { AuditEntry } from '../chain/chain.schemas';
import { cleanText, sanitizeData } from '../chain/chain.sanitize';
import type { ChainService } from '../chain/chain.service';
import type { EntriesService, EntryPage } from '../entries/entries.service';
import { socialErrors } from './social.errors';
import type { CreateSocialLog, SocialListQuery } from './social.schemas';

/** Who is recording, and from where. */
export interface SocialContext {
  tenantId: string;
  userId: string;
  roles: string[];
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/** Largest `data` accepted, as JSON bytes. */
export const MAX_SOCIAL_DATA_BYTES = 8 * 1024;
const SOCIAL_PREFIX = 'social.events.';

/** Creates the social-log service. */
export function createSocialService(deps: {
  chain: ChainService;
  entries: EntriesService;
  kv: KvStore;
  /** per user; max 0 turns it off */
  limit: RateLimitSetting;
}) {
  const { chain, entries, kv, limit } = deps;

  async function checkRate(ctx: SocialContext): Promise<{ remaining: number; resetSec: number }> {
    if (limit.max <= 0) return { remaining: Number.MAX_SAFE_INTEGER, resetSec: 0 };
    let counted: { count: number; resetMs: number };
    try {
      counted = await kv.incr(`audit:social:${ctx.tenantId}:${ctx.userId}`, limit.windowMs);
    } catch (err) {
      throw Object.assign(errors.unavailable('The rate-limit store is unavailable; try again shortly.'), { cause: err });
    }
    if (counted.count > limit.max) throw socialErrors.rateLimited(limit.max, counted.resetMs);
    return { remaining: limit.max - counted.count, resetSec: Math.max(1, Math.ceil(counted.resetMs / 1000)) };
  }

  return {
    /** Records one social entry; returns it with the caller's remaining rate-limit budget. */
    async record(ctx: SocialContext, body: CreateSocialLog): Promise<{ entry: AuditEntry; rate: { limit: number; remaining: number; resetSec: number } }> {
      const raw = body.data ?? {};
      if (Buffer.byteLength(JSON.stringify(raw)) > MAX_SOCIAL_DATA_BYTES) throw socialErrors.dataTooLarge(MAX_SOCIAL_DATA_BYTES);
      const rate = await checkRate(ctx);
      const eventId = randomUUID();
      const type = `${SOCIAL_PREFIX}${body.type}`;
      const occurredAt = new Date();
      const data = sanitizeData(raw);
      const targetId = cleanText(body.targetId, 200);
      const where = { ip: cleanText(ctx.ip, 64), userAgent: cleanText(ctx.userAgent, 512), requestId: cleanText(ctx.requestId, 128) };
      const entry = await chain.append(
        ctx.tenantId,
        { eventId, type, actorId: ctx.userId, subjectId: targetId, ...where, data, occurredAt },
        async (_trx, emit, created) => {
          await emit(
            makeEvent({
              id: eventId,
              source: 'gatehouse/audit',
              type,
              tenantId: ctx.tenantId,
              ...(targetId !== null ? { subject: targetId } : {}),
              time: occurredAt,
              data: { entryId: created.id, seq: created.seq, actorId: ctx.userId, targetId, data, ...where },
            }),
          );
        },
      );
      // A fresh UUID cannot already be in the log.
      if (!entry) throw new Error('social entry was not appended');
      return { entry, rate: { limit: limit.max, ...rate } };
    },

    /**
     * Social entries of the tenant, newest first. Only admins and the actor themselves see
     * an entry's IP address and user agent.
     */
    async list(ctx: SocialContext, q: SocialListQuery): Promise<EntryPage> {
      const page = await entries.list(
        ctx.tenantId,
        {
          scopePrefix: SOCIAL_PREFIX,
          ...(q.type !== undefined ? { type: `${SOCIAL_PREFIX}${q.type}` } : {}),
          ...(q.actorId !== undefined ? { actorId: q.actorId } : {}),
          ...(q.targetId !== undefined ? { subjectId: q.targetId } : {}),
        },
        { cursor: q.cursor, limit: q.limit ?? 50 },
      );
      if (hasRole(ctx.roles, ['admin'])) return page;
      return {
        ...page,
        items: page.items.map((e) => (e.actorId === ctx.userId ? e : { ...e, ip: null, userAgent: null })),
      };
    },
  };
}
export type SocialService = ReturnType<typeof createSocialService>;
