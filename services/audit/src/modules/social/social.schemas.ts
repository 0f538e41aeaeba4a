/** HTTP schemas of the social log. */
import { Type, type Static } from 'typebox';

/** A social entry type: dotted lower-case words, at least two (`post.liked`). */
export const SOCIAL_TYPE_PATTERN = '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$';

export const CreateSocialLogSchema = Type.Object({
  type: Type.String({ pattern: SOCIAL_TYPE_PATTERN, maxLength: 100, description: 'what happened, e.g. post.liked; recorded as social.events.<type>', examples: ['post.liked'] }),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'what it happened to (a post, a user, …)' })),
  data: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'free JSON object, at most 8 KiB; secret-looking keys are not stored' })),
});
export type CreateSocialLog = Static<typeof CreateSocialLogSchema>;

export const SocialListQuerySchema = Type.Object({
  actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  type: Type.Optional(Type.String({ pattern: SOCIAL_TYPE_PATTERN, maxLength: 100, description: 'as given to POST (post.liked)' })),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
});
export type SocialListQuery = Static<typeof SocialListQuerySchema>;
