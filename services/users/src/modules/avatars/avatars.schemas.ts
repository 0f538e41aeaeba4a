/** HTTP schemas of avatars. */
import { Type } from 'typebox';

/** Answer to an upload. */
export const AvatarUploadResponse = Type.Object({
  avatarUrl: Type.String({ description: 'root-relative URL of the new avatar; changes with every upload' }),
});

/** Path parameters of the public avatar URL. */
export const AvatarParams = Type.Object({
  objectId: Type.String({ maxLength: 100, description: 'the last segment of an avatarUrl' }),
});

/** OpenAPI description of the multipart body (Fastify does not validate multipart bodies by schema). */
export const AvatarUploadBody = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: { file: { type: 'string', format: 'binary', description: 'PNG, JPEG or WebP, at most 2 MiB and 4096×4096' } },
      },
    },
  },
};
