/** HTTP schemas of profiles (TypeBox: validation, serialization and OpenAPI at once). */
import { Type, type Static } from 'typebox';
import { MULTI_LINE, ONE_LINE, nullableString } from '../../common';

/** Field limits, in Unicode code points. */
export const PROFILE_LIMITS = { displayName: 100, bio: 1000, location: 100, website: 2048 } as const;

/** A profile as the API shows it (API.md "Users"). */
export const ProfileSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    username: nullableString({ maxLength: 256 }),
    displayName: nullableString({ maxLength: PROFILE_LIMITS.displayName }),
    bio: nullableString({ maxLength: PROFILE_LIMITS.bio }),
    location: nullableString({ maxLength: PROFILE_LIMITS.location }),
    website: nullableString({ maxLength: PROFILE_LIMITS.website }),
    avatarUrl: nullableString({ maxLength: 300, description: 'root-relative URL of the avatar image, or null' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A user profile' },
);
export type Profile = Static<typeof ProfileSchema>;

/** Body of PATCH /users/me. */
export const ProfilePatchSchema = Type.Object(
  {
    displayName: Type.Optional(
      nullableString({ minLength: 1, maxLength: PROFILE_LIMITS.displayName, pattern: ONE_LINE, description: 'null clears it' }),
    ),
    bio: Type.Optional(nullableString({ maxLength: PROFILE_LIMITS.bio, pattern: MULTI_LINE })),
    location: Type.Optional(nullableString({ maxLength: PROFILE_LIMITS.location, pattern: ONE_LINE })),
    website: Type.Optional(
      nullableString({ maxLength: PROFILE_LIMITS.website, pattern: '^https?://[^\\s]+$', description: 'an http(s) URL' }),
    ),
  },
  { additionalProperties: false, description: 'Fields to change; absent fields stay as they are, null clears one' },
);
export type ProfilePatchBody = Static<typeof ProfilePatchSchema>;
