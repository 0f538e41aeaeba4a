/** Profiles: the caller's own (read, edit) and other members' public profiles in the tenant. */
import type { Database } from '../../db/schema';
import { makeEvent } from '@gatehouse/platform/events';
import { iso } from '@gatehouse/platform/formats';
import { AVATAR_PATH, EVENT_SOURCE } from '../../common';
import { profileErrors } from './profiles.errors';
import { findProfile, updateProfile, type ProfilePatch, type ProfileRow } from './profiles.queries';
import type { Profile, ProfilePatchBody } from './profiles.schemas';

/** The public URL of an avatar object (root-relative: tenants live on their own hosts). */
export function avatarUrl(objectId: string | null): string | null {
  return objectId ? `${AVATAR_PATH}/${objectId}` : null;
}

/** A profiles row as the API shows it. */
export function toProfile(row: ProfileRow): Profile {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    bio: row.bio,
    location: row.location,
    website: row.website,
    avatarUrl: avatarUrl(row.avatar_object),
    updatedAt: iso(row.updated_at),
  };
}

/** NFC, trimmed; empty becomes null (nothing to show). */
function clean(v: string | null | undefined): string | null | undefined {
  if (v === undefined || v === null) return v;
  const t = v.normalize('NFC').trim();
  return t === '' ? null : t;
}

function checkWebsite(v: string): void {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw profileErrors.invalidField('body.website', 'must be an http or https URL');
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    throw profileErrors.invalidField('body.website', 'must be an http or https URL');
  }
  // `https://bank.example@evil.example` reads as one site and goes to another
  if (u.username || u.password) throw profileErrors.invalidField('body.website', 'must not contain a user name or password');
}

const FIELD_COLUMNS = { displayName: 'display_name', bio: 'bio', location: 'location', website: 'website' } as const;

/** Creates the profile service. */
export function createProfileService(deps: { db: Database; clock: () => Date }) {
  const { db, clock } = deps;
  return {
    /** The caller's profile; `profile_not_found` while the identity replica has not seen them. */
    async getOwn(tenantId: string, userId: string): Promise<Profile> {
      const row = await db.withTenantRead(tenantId, (trx) => findProfile(trx, userId));
      if (!row) throw profileErrors.profileNotFound();
      return toProfile(row);
    },

    /** A member's public profile, same tenant only (RLS hides every other tenant's rows). */
    async getPublic(tenantId: string, userId: string): Promise<Profile> {
      const row = await db.withTenantRead(tenantId, (trx) => findProfile(trx, userId));
      if (!row) throw profileErrors.userNotFound();
      return toProfile(row);
    },

    /** Applies the given fields and emits `profile.events.updated` with the names of those that changed. */
    async update(tenantId: string, userId: string, body: ProfilePatchBody): Promise<Profile> {
      const patch: ProfilePatch = {};
      for (const [field, column] of Object.entries(FIELD_COLUMNS) as Array<[keyof ProfilePatchBody, keyof ProfilePatch]>) {
        if (!(field in body)) continue;
        const v = clean(body[field]);
        if (field === 'displayName' && v === null && body.displayName !== null) {
          throw profileErrors.invalidField('body.displayName', 'must not be blank (send null to clear it)');
        }
        if (field === 'website' && v) checkWebsite(v);
        patch[column] = v ?? null;
      }
      const result = await db.withTenant(tenantId, async (trx, emit) => {
        const before = await findProfile(trx, userId);
        if (!before) throw profileErrors.profileNotFound();
        const changed = (Object.keys(patch) as Array<keyof ProfilePatch>).filter((c) => before[c] !== patch[c]);
        if (changed.length === 0) return { row: before, changed };
        const row = await updateProfile(trx, userId, patch, clock());
        if (!row) throw profileErrors.profileNotFound();
        const fields = (Object.keys(FIELD_COLUMNS) as Array<keyof typeof FIELD_COLUMNS>).filter((f) => changed.includes(FIELD_COLUMNS[f]));
        await emit(
          makeEvent({
            source: EVENT_SOURCE,
            type: 'profile.events.updated',
            tenantId,
            subject: userId,
            data: { id: userId, fields },
          }),
        );
        return { row, changed };
      });
      return toProfile(result.row);
    },
  };
}
export type ProfileService = ReturnType<typeof createProfileService>;
