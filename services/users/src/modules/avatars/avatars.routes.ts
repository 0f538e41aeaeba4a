/** Avatar routes: upload and removal for the caller, public serving by object id. */
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TENANT_HEADER } from '@gatehouse/platform/auth';
import { AppError } from '@gatehouse/platform/errors';
import type { HttpApp } from '@gatehouse/platform/http';
import { bearerSecurity, problems } from '@gatehouse/contracts';
import { AVATAR_PATH } from '../../common';
import { MAX_AVATAR_BYTES, avatarErrors } from './avatars.errors';
import { AvatarParams, AvatarUploadBody, AvatarUploadResponse } from './avatars.schemas';
import type { AvatarService } from './avatars.service';

/** Multipart library errors that mean "the client sent the wrong parts". */
const WRONG_PARTS = new Set(['FST_FILES_LIMIT', 'FST_FIELDS_LIMIT', 'FST_PARTS_LIMIT', 'FST_PROTO_VIOLATION', 'FST_INVALID_JSON_FIELD_ERROR']);

/**
 * Reads exactly one file part named `file`, wholly, into memory (≤ 2 MiB). Every parsing
 * failure becomes a 4xx: these all come from what the client sent.
 */
async function readSingleFile(req: FastifyRequest): Promise<Buffer> {
  if (!req.isMultipart()) throw avatarErrors.notMultipart();
  let file: Buffer | undefined;
  try {
    for await (const part of req.parts()) {
      if (part.type !== 'file') throw avatarErrors.wrongParts('only one file field named "file" is accepted');
      if (part.fieldname !== 'file') {
        part.file.resume();
        throw avatarErrors.wrongParts(`the file field must be named "file", not "${part.fieldname.slice(0, 40)}"`);
      }
      if (file) throw avatarErrors.wrongParts('only one file is accepted');
      file = await part.toBuffer();
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw avatarErrors.fileTooLarge();
    if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') throw avatarErrors.notMultipart();
    if (code && WRONG_PARTS.has(code)) throw avatarErrors.wrongParts('only one file field named "file" is accepted');
    // busboy's own errors (missing boundary, "Unexpected end of form", a part cut short) and
    // a connection closed mid-upload
    req.log.debug({ err }, 'multipart upload rejected');
    throw avatarErrors.invalidMultipart();
  }
  if (!file) throw avatarErrors.wrongParts('a file field named "file" is required');
  if (file.length === 0) throw avatarErrors.wrongParts('the file is empty');
  return file;
}

/** Registers the avatar routes (multipart parsing only in their scope). */
export async function avatarRoutes(app: HttpApp, deps: { avatars: AvatarService; requireUser: preHandlerAsyncHookHandler }) {
  const { avatars, requireUser } = deps;

  // multipart only in this scope: no other route accepts it
  await app.register(async (scope) => {
    const s = scope.withTypeProvider<TypeBoxTypeProvider>();
    await s.register(multipart, {
      limits: { fileSize: MAX_AVATAR_BYTES, files: 1, fields: 0, parts: 1, headerPairs: 20, fieldNameSize: 100 },
      throwFileSizeLimit: true,
    });

    s.put(
      '/api/v1/users/me/avatar',
      {
        preHandler: requireUser,
        schema: {
          tags: ['users'],
          summary: 'Upload or replace the caller’s avatar',
          description:
            'multipart/form-data with one file field named `file`: PNG, JPEG or WebP (checked by content, not by name or declared type), at most 2 MiB and 4096×4096. Answers with the new avatar URL.',
          security: bearerSecurity,
          consumes: ['multipart/form-data'],
          body: AvatarUploadBody,
          response: { 200: AvatarUploadResponse, ...problems(400, 401, 403, 404, 413, 415) },
        },
        // the multipart stream is read in the handler; the body schema above is documentation
        validatorCompiler: () => () => true,
      },
      async (req) => {
        const bytes = await readSingleFile(req);
        return avatars.upload(req.auth!.tid, req.auth!.sub, bytes);
      },
    );
  });

  app.delete(
    '/api/v1/users/me/avatar',
    {
      preHandler: requireUser,
      schema: {
        tags: ['users'],
        summary: 'Remove the caller’s avatar',
        security: bearerSecurity,
        response: { 204: { type: 'null', description: 'removed (or there was none)' }, ...problems(401, 403, 404) },
      },
    },
    async (req, reply) => {
      await avatars.remove(req.auth!.tid, req.auth!.sub);
      return reply.code(204).send(null);
    },
  );

  app.get(
    `${AVATAR_PATH}/:objectId`,
    {
      schema: {
        tags: ['users'],
        summary: 'An avatar image',
        description:
          'Public by unguessable URL (an <img> cannot send a token): the id carries 128 random bits and changes with every upload, so the response is immutable and cacheable.',
        params: AvatarParams,
        response: {
          200: { description: 'the image (image/png, image/jpeg or image/webp)', content: { 'image/*': { schema: { type: 'string', format: 'binary' } } } },
          304: { type: 'null', description: 'not modified' },
          ...problems(400, 404),
        },
      },
    },
    async (req, reply) => {
      const { objectId } = req.params;
      const etag = `"${objectId}"`;
      const notModified = req.headers['if-none-match'] === etag;
      const tenant = req.headers[TENANT_HEADER];
      const img = await avatars.open(objectId, { body: !notModified, tenantId: typeof tenant === 'string' ? tenant : undefined });
      reply
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('content-disposition', `inline; filename="avatar.${img.ext}"`)
        .header('cross-origin-resource-policy', 'cross-origin')
        .header('etag', etag);
      if (!('body' in img)) return reply.code(304).send(null);
      reply.type(img.contentType);
      if (img.size) reply.header('content-length', img.size);
      // a byte stream; the binary response schema is typed as string by the type provider
      return reply.send(img.body as unknown as string);
    },
  );
}
