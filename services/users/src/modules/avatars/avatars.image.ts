/**
 * Decides whether uploaded bytes are an avatar image we serve: PNG, JPEG or WebP by content
 * (magic bytes, through `file-type`), then a structural walk of the container so that a file
 * that merely starts like an image is refused too: truncated files, bytes after the image's
 * end (the classic image/HTML or image/ZIP polyglot), broken chunk checksums, and dimensions
 * above 4096×4096 (decompression bombs).
 *
 * The walk is hand-written because no library does it: `file-type` only reads the signature,
 * and sharp (libvips) decodes whatever it can make sense of, trailing bytes included. It reads
 * container structure only, never pixels, so it runs first and cheaply: only what passes it
 * (the declared size included) is decoded, by {@link reencodeImage}.
 *
 * Then every accepted image is decoded and encoded anew by sharp ({@link reencodeImage}):
 * what is stored and served is pixels only, never the uploaded bytes, so EXIF (GPS position,
 * camera serial, thumbnails), XMP, IPTC, comments and anything hidden in them are gone.
 */
import { crc32 } from 'node:zlib';
import { avatarErrors } from './avatars.errors';

/** The image kinds accepted as avatars. */
export const AVATAR_TYPES = {
  png: 'image/png',
  jpg: 'image/jpeg',
  webp: 'image/webp',
} as const;
/** File extension of an accepted avatar kind. */
export type AvatarExt = keyof typeof AVATAR_TYPES;

/** Largest accepted width or height, in pixels. */
export const MAX_DIMENSION = 4096;

/** What a valid avatar image is. */
export interface ImageInfo {
  ext: AvatarExt;
  mime: (typeof AVATAR_TYPES)[AvatarExt];
  width: number;
  height: number;
}

class Broken extends Error {}

function need(cond: boolean, why: string): asserts cond {
  if (!cond) throw new Broken(why);
}

/** PNG: signature, IHDR first, every chunk whole with a valid CRC, IEND last and at the very end. */
function pngSize(b: Buffer): { width: number; height: number } {
  let off = 8;
  let width = 0;
  let height = 0;
  let sawData = false;
  let first = true;
  for (;;) {
    need(off + 12 <= b.length, 'truncated chunk');
    const len = b.readUInt32BE(off);
    need(len <= 0x7fffffff && off + 12 + len <= b.length, 'truncated chunk');
    const type = b.toString('latin1', off + 4, off + 8);
    need(/^[A-Za-z]{4}$/.test(type), 'bad chunk type');
    const crc = b.readUInt32BE(off + 8 + len);
    need(crc32(b.subarray(off + 4, off + 8 + len)) === crc, 'bad chunk checksum');
    if (first) {
      need(type === 'IHDR' && len === 13, 'IHDR must come first');
      width = b.readUInt32BE(off + 8);
      height = b.readUInt32BE(off + 12);
      first = false;
    }
    if (type === 'IDAT') sawData = true;
    off += 12 + len;
    if (type === 'IEND') break;
  }
  need(sawData, 'no image data');
  need(off === b.length, 'data after the end of the image');
  return { width, height };
}

/** JPEG: segments from SOI to EOI, a frame header (SOF) for the size, nothing after EOI. */
function jpegSize(b: Buffer): { width: number; height: number } {
  need(b[0] === 0xff && b[1] === 0xd8, 'no SOI');
  let off = 2;
  let width = 0;
  let height = 0;
  for (;;) {
    need(off + 2 <= b.length, 'truncated');
    need(b[off] === 0xff, 'marker expected');
    while (b[off + 1] === 0xff && off + 2 < b.length) off++; // fill bytes
    const marker = b[off + 1]!;
    off += 2;
    if (marker === 0xd9) break; // EOI
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // no length
    need(off + 2 <= b.length, 'truncated');
    const len = b.readUInt16BE(off);
    need(len >= 2 && off + len <= b.length, 'truncated segment');
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      need(len >= 7, 'short frame header');
      height = b.readUInt16BE(off + 3);
      width = b.readUInt16BE(off + 5);
    }
    off += len;
    if (marker === 0xda) {
      // entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart
      for (;;) {
        need(off + 1 < b.length, 'truncated scan');
        if (b[off] === 0xff && b[off + 1] !== 0x00 && !(b[off + 1]! >= 0xd0 && b[off + 1]! <= 0xd7) && b[off + 1] !== 0xff) break;
        off++;
      }
    }
  }
  need(width > 0 && height > 0, 'no frame header');
  need(off === b.length, 'data after the end of the image');
  return { width, height };
}

/** WebP: a RIFF container whose declared size is the file's, chunks that fit, a VP8/VP8L/VP8X header. */
function webpSize(b: Buffer): { width: number; height: number } {
  need(b.length >= 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP', 'not RIFF/WEBP');
  need(b.readUInt32LE(4) + 8 === b.length, 'RIFF size does not match the file');
  let off = 12;
  let size: { width: number; height: number } | undefined;
  while (off < b.length) {
    need(off + 8 <= b.length, 'truncated chunk');
    const type = b.toString('latin1', off, off + 4);
    const len = b.readUInt32LE(off + 4);
    const data = off + 8;
    need(data + len <= b.length, 'truncated chunk');
    if (!size) {
      if (type === 'VP8X') {
        need(len >= 10, 'short VP8X');
        size = { width: b.readUIntLE(data + 4, 3) + 1, height: b.readUIntLE(data + 7, 3) + 1 };
      } else if (type === 'VP8 ') {
        need(len >= 10 && b[data + 3] === 0x9d && b[data + 4] === 0x01 && b[data + 5] === 0x2a, 'bad VP8 header');
        size = { width: b.readUInt16LE(data + 6) & 0x3fff, height: b.readUInt16LE(data + 8) & 0x3fff };
      } else if (type === 'VP8L') {
        need(len >= 5 && b[data] === 0x2f, 'bad VP8L header');
        const bits = b.readUInt32LE(data + 1);
        size = { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
      } else {
        need(false, 'first chunk must be VP8, VP8L or VP8X');
      }
    }
    off = data + len + (len & 1); // chunks are padded to an even length
  }
  need(off === b.length && size !== undefined, 'data after the end of the image');
  return size;
}

/**
 * Returns what the image is, or throws `unsupported_media_type` (not PNG/JPEG/WebP by content),
 * `invalid_image` (looks like one but is broken or has extra data) or
 * `image_dimensions_too_large`.
 */
export async function inspectImage(bytes: Buffer): Promise<ImageInfo> {
  // loaded on the first upload, not at start: sharp maps libvips (~20 MB of RSS) and most
  // processes never see an avatar (bench/results/*-embedded-pglite.md)
  const { fileTypeFromBuffer } = await import('file-type');
  const detected = await fileTypeFromBuffer(bytes);
  const ext = detected?.ext;
  if (ext !== 'png' && ext !== 'jpg' && ext !== 'webp') throw avatarErrors.unsupportedType(detected?.mime);
  let dims: { width: number; height: number };
  try {
    dims = ext === 'png' ? pngSize(bytes) : ext === 'jpg' ? jpegSize(bytes) : webpSize(bytes);
  } catch (err) {
    if (err instanceof Broken || err instanceof RangeError) throw avatarErrors.invalidImage(err.message);
    throw err;
  }
  if (dims.width < 1 || dims.height < 1) throw avatarErrors.invalidImage('zero width or height');
  if (dims.width > MAX_DIMENSION || dims.height > MAX_DIMENSION) throw avatarErrors.dimensionsTooLarge(dims.width, dims.height);
  return { ext, mime: AVATAR_TYPES[ext], ...dims };
}

/**
 * Decodes the image and encodes it again in its own format with no metadata at all (sharp
 * keeps none unless asked): the EXIF orientation is applied to the pixels first, so a photo
 * stays upright without it. Decoding is bounded twice: {@link inspectImage} has already
 * refused declared sizes over {@link MAX_DIMENSION}, and sharp refuses to decode more pixels
 * than that (`limitInputPixels`) whatever the headers said. Animated images keep their first
 * frame only. Throws `invalid_image` when the pixels cannot be decoded.
 */
export async function reencodeImage(bytes: Buffer, info: ImageInfo): Promise<{ bytes: Buffer; width: number; height: number }> {
  const { default: sharp } = await import('sharp');
  try {
    const pipeline = sharp(bytes, { limitInputPixels: MAX_DIMENSION * MAX_DIMENSION, failOn: 'error', animated: false }).autoOrient();
    const encoded =
      info.ext === 'png'
        ? pipeline.png({ compressionLevel: 9 })
        : info.ext === 'jpg'
          ? pipeline.jpeg({ quality: 85, mozjpeg: true })
          : pipeline.webp({ quality: 85 });
    const { data, info: out } = await encoded.toBuffer({ resolveWithObject: true });
    return { bytes: data, width: out.width, height: out.height };
  } catch (err) {
    throw avatarErrors.invalidImage(`its pixels cannot be decoded (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
}
