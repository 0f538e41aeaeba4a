/**
 * CSV for the attendance export (RFC 4180), safe to open in a spreadsheet.
 *
 * Hand-written rather than a CSV library: writing (not parsing) CSV is quoting plus one rule,
 * and the rule that matters here is not in the libraries' defaults: a cell starting with
 * `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice and Google
 * Sheets, so a member named `=HYPERLINK(...)` would run in the organizer's spreadsheet (OWASP
 * "CSV injection"). Such cells get a leading `'`, which spreadsheets show as text.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One cell: formula-neutralised, then quoted when it holds a comma, quote or line break. */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The document: UTF-8 with a byte-order mark (without it Excel reads UTF-8 names as Latin-1),
 * CRLF line ends as RFC 4180 says.
 */
export function toCsv(header: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const lines = [header.map(csvCell).join(','), ...rows.map((r) => r.map(csvCell).join(','))];
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
