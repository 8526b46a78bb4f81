import { tabwrite } from './table.js';
import { parseTemplate, TemplateError, type Template } from './template.js';

/**
 * docker's formatter.Format: "table", "table TEMPLATE", "json" or a bare TEMPLATE. Literal
 * "\t" and "\n" in the string become tab and newline (docker does this for every list format),
 * and table output goes through the tabwriter with a header row rendered from the same template.
 */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

/** Header names for a table; unknown fields show their own name upper-cased (".Label" -> LABEL). */
export class HeaderMap extends Map<string, unknown> {
  override has(_key: string): boolean {
    return true;
  }
  override get(key: string): unknown {
    return super.has(key) ? super.get(key) : key.toUpperCase();
  }
}

export interface ParsedFormat {
  table: boolean;
  template: Template;
}

export function parseFormat(format: string, defaultTable: string): ParsedFormat {
  let text = format;
  if (text === 'json') text = '{{json .}}';
  const table = text.startsWith('table');
  if (table) text = text.slice('table'.length);
  text = text.replace(/^ +| +$/g, '');
  if (table && text === '') text = defaultTable;
  text = text.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  try {
    return { table, template: parseTemplate(text) };
  } catch (err) {
    if (err instanceof TemplateError) throw new FormatError(`template parsing error: ${err.message}`);
    throw err;
  }
}

/** Renders rows (each followed by a newline); a table gets the header and column alignment. */
export function renderList(format: string, defaultTable: string, rows: readonly unknown[], header: HeaderMap): string {
  const { table, template } = parseFormat(format, defaultTable);
  let body = '';
  try {
    for (const row of rows) body += `${template.execute(row)}\n`;
    if (!table) return body;
    return tabwrite(`${template.execute(header)}\n${body}`);
  } catch (err) {
    if (err instanceof TemplateError) throw new FormatError(err.message);
    throw err;
  }
}

/** A single object through a template (inspect -f, version -f, info -f); adds the newline. */
export function renderOne(format: string, data: unknown): string {
  const { template } = parseFormat(format, '');
  try {
    return `${template.execute(data)}\n`;
  } catch (err) {
    if (err instanceof TemplateError) throw new FormatError(err.message);
    throw err;
  }
}
