/** Error codes of avatar uploads (part of the API contract). */
import { AppError } from '@gatehouse/platform/errors';

/** Largest accepted upload, in bytes. */
export const MAX_AVATAR_BYTES = 2 * 1024 * 1024;

/** Errors of avatars, by name. */
export const avatarErrors = {
  fileTooLarge: () =>
    new AppError('file_too_large', 413, { detail: `The file is larger than ${MAX_AVATAR_BYTES / 1024 / 1024} MiB.` }),
  unsupportedType: (detected?: string) =>
    new AppError('unsupported_media_type', 415, {
      detail: `Avatars must be PNG, JPEG or WebP images (checked by content${detected ? `; this file is ${detected}` : ''}).`,
    }),
  notMultipart: () =>
    new AppError('unsupported_media_type', 415, { detail: 'Send multipart/form-data with one file field named "file".' }),
  invalidImage: (why: string) =>
    new AppError('invalid_image', 400, { detail: `The file is not a well-formed image: ${why}.` }),
  dimensionsTooLarge: (w: number, h: number) =>
    new AppError('image_dimensions_too_large', 400, { detail: `The image is ${w}×${h}; at most 4096×4096 is accepted.` }),
  /** The multipart body is cut short or malformed (a dropped connection, a missing boundary). */
  invalidMultipart: () =>
    new AppError('invalid_multipart', 400, { detail: 'The upload is incomplete or is not valid multipart/form-data.' }),
  wrongParts: (message: string) =>
    new AppError('validation_failed', 400, { detail: 'Send exactly one part: a file field named "file".', errors: [{ path: 'body.file', message }] }),
  /** The object store does not answer; logged with its cause, the client may retry. */
  storageUnavailable: (cause: unknown) =>
    new AppError('service_unavailable', 503, { detail: 'Avatar storage is unavailable; try again shortly.', headers: { 'retry-after': '5' }, cause }),
  avatarNotFound: () => new AppError('not_found', 404, { detail: 'No such avatar.' }),
};
