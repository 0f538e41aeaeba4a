/**
 * Avatars: upload (validated by content), removal, and serving by an unguessable object id.
 *
 * Why an unguessable public URL rather than an authenticated one: avatars are shown by
 * `<img>`, which cannot send a bearer token. The URL `/api/v1/users/avatars/<tenant>.<random>.<ext>`
 * carries 128 random bits, so it is a capability like a signed URL: whoever was shown it can
 * fetch it, nobody can list or guess others. It is only served while a profile still points at
 * it (looked up under the tenant in the id, with RLS), and each upload gets a new id, so the
 * bytes behind an id never change and may be cached for a year.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema';
import { randomToken } from '@gatehouse/platform/crypto';
import { makeEvent } from '@gatehouse/platform/events';
import type { Storage } from '@gatehouse/platform/storage';
import { EVENT_SOURCE } from '../../common';
import { profileErrors } from '../profiles/profiles.errors';
import { findProfileForUpdate } from '../profiles/profiles.queries';
import { avatarUrl } from '../profiles/profiles.service';
import { avatarErrors } from './avatars.errors';
import type { ObjectDeletions } from './avatars.deletions';
import { inspectImage, reencodeImage } from './avatars.image';
import { findAvatarKey, queueDeletions, setAvatar } from './avatars.queries';

/** `<tenant uuid>.<22 base64url chars = 128 bits>.<ext>` */
const OBJECT_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{22})\.(png|jpg|webp)$/;

/** Creates the avatar service. */
export function createAvatarService(deps: {
  db: Database;
  storage: Storage;
  deletions: ObjectDeletions;
  clock: () => Date;
  logger: Logger;
}) {
  const { db, storage, deletions, clock, logger } = deps;

  function profileEvent(tenantId: string, userId: string) {
    return makeEvent({
      source: EVENT_SOURCE,
      type: 'profile.events.updated',
      tenantId,
      subject: userId,
      data: { id: userId, fields: ['avatar'] },
    });
  }

  return {
    /** Stores a new avatar and points the profile at it; the previous object is deleted after the commit. */
    async upload(tenantId: string, userId: string, bytes: Buffer): Promise<{ avatarUrl: string }> {
      const image = await inspectImage(bytes);
      // stored and served: the re-encoded pixels, never the uploaded bytes (no EXIF/GPS, no hidden payload)
      const clean = await reencodeImage(bytes, image);
      const random = randomToken(16);
      const objectId = `${tenantId.toLowerCase()}.${random}.${image.ext}`;
      // server-generated only: nothing of the client's file name reaches the key
      const key = `avatars/${tenantId}/${userId}/${random}.${image.ext}`;
      await storage.put(key, clean.bytes, image.mime).catch((err: unknown) => {
        throw avatarErrors.storageUnavailable(err);
      });
      let old: string | null = null;
      try {
        await db.withTenant(tenantId, async (trx, emit) => {
          const profile = await findProfileForUpdate(trx, userId);
          if (!profile) throw profileErrors.profileNotFound();
          old = profile.avatar_key;
          await setAvatar(trx, userId, key, objectId, clock());
          if (old) await queueDeletions(trx, [old]);
          await emit(profileEvent(tenantId, userId));
        });
      } catch (err) {
        // nothing references the new object: remove it now (if this fails too, it is an orphan
        // no URL can reach, since avatars are served only through a profile's reference)
        await storage.delete(key).catch((e: unknown) => logger.warn({ err: e, key }, 'could not remove an unused upload'));
        throw err;
      }
      if (old) await deletions.deleteNow([old]);
      return { avatarUrl: avatarUrl(objectId)! };
    },

    /** Removes the avatar (idempotent: no avatar is fine). */
    async remove(tenantId: string, userId: string): Promise<void> {
      const old = await db.withTenant(tenantId, async (trx, emit) => {
        const profile = await findProfileForUpdate(trx, userId);
        if (!profile) throw profileErrors.profileNotFound();
        if (!profile.avatar_key) return null;
        await setAvatar(trx, userId, null, null, clock());
        await queueDeletions(trx, [profile.avatar_key]);
        await emit(profileEvent(tenantId, userId));
        return profile.avatar_key;
      });
      if (old) await deletions.deleteNow([old]);
    },

    /**
     * The image behind a public object id, or `not_found`. With `body: false` only checks that
     * it is still current (a conditional request answered 304 needs no bytes). `tenantId` is the
     * tenant the gateway resolved for the request, when there is one.
     */
    async open(
      objectId: string,
      opts: { body: boolean; tenantId?: string },
    ): Promise<{ body: Buffer | Readable; contentType: string; size: number; ext: string } | { ext: string }> {
      const m = OBJECT_ID.exec(objectId);
      if (!m) throw avatarErrors.avatarNotFound();
      const tenantId = m[1]!;
      // behind the gateway the request's tenant is known: another tenant's avatar does not exist here
      if (opts.tenantId && opts.tenantId.toLowerCase() !== tenantId) throw avatarErrors.avatarNotFound();
      const key = await db.withTenantRead(tenantId, (trx) => findAvatarKey(trx, objectId));
      if (!key) throw avatarErrors.avatarNotFound();
      if (!opts.body) return { ext: m[3]! };
      const obj = await storage.get(key).catch((err: unknown) => {
        throw avatarErrors.storageUnavailable(err);
      });
      if (!obj) throw avatarErrors.avatarNotFound();
      return { ...obj, ext: m[3]! };
    },
  };
}
export type AvatarService = ReturnType<typeof createAvatarService>;
