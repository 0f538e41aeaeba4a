/**
 * Export formats: NDJSON (one AuditEntry per line) and CSV.
 * CSV is written here rather than with a library: RFC 4180 quoting plus the OWASP
 * formula-injection guard is a dozen lines, and no CSV package is among our dependencies.
 */
import type { AuditEntry } from '../chain/chain.schemas';

export type ExportFormat = 'ndjson' | 'csv';

/** Column order of the CSV export. */
export const CSV_COLUMNS = [
  'id', 'seq', 'tenantId', 'type', 'actorId', 'subjectId', 'ip', 'userAgent', 'requestId',
  'eventId', 'occurredAt', 'recordedAt', 'data', 'prevHash', 'hash',
] as const;

/**
 * One CSV cell. A cell a spreadsheet would run as a formula (starting with = + - @, tab or
 * CR) gets a leading apostrophe (OWASP "CSV injection"); cells with a quote, comma or line
 * break are quoted with quotes doubled (RFC 4180).
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The CSV line of an entry (CRLF-terminated, per RFC 4180). */
export function csvLine(e: AuditEntry): string {
  return `${CSV_COLUMNS.map((c) => csvCell(e[c])).join(',')}\r\n`;
}

/** Serialises entries as text chunks in the given format. */
export async function* exportLines(entries: AsyncIterable<AuditEntry>, format: ExportFormat): AsyncGenerator<string> {
  if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
  let chunk = '';
  for await (const e of entries) {
    chunk += format === 'csv' ? csvLine(e) : `${JSON.stringify(e)}\n`;
    // Batch small lines into ~64 KiB writes.
    if (chunk.length >= 65536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/**
 * Picks the export format: `?format=` wins, then the Accept header's most preferred of
 * JSON, NDJSON and CSV (by q, then order); undefined means the JSON page.
 */
export function exportFormat(format: string | undefined, accept: string | undefined): ExportFormat | undefined {
  if (format === 'ndjson' || format === 'csv') return format;
  if (format === 'json' || !accept) return undefined;
  const known: Record<string, ExportFormat | 'json'> = {
    'application/json': 'json',
    'application/x-ndjson': 'ndjson',
    'application/ndjson': 'ndjson',
    'text/csv': 'csv',
  };
  let best: { kind: ExportFormat | 'json'; q: number } | undefined;
  for (const part of accept.toLowerCase().split(',')) {
    const [type = '', ...params] = part.split(';').map((p) => p.trim());
    const kind = known[type];
    if (!kind) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { kind, q };
  }
  return best && best.kind !== 'json' ? best.kind : undefined;
}
