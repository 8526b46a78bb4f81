import { ClientError, isNotFound } from '../../client/errors.js';
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import type { ParsedArgs } from '../flags.js';
import { FormatError } from '../render/formatter.js';
import { parseTemplate, TemplateError, type Template } from '../render/template.js';
import { FORMAT_HELP } from './common.js';

type Kind = 'container' | 'image';

/** Go's json.MarshalIndent escapes <, > and & (HTML-safe); docker's inspect output shows that. */
export function inspectJson(values: unknown[]): string {
  if (!values.length) return '[]';
  return JSON.stringify(values, null, 4)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026');
}

async function fetch(ctx: CliContext, ref: string, kind: Kind | undefined, size: boolean): Promise<unknown> {
  const client = ctx.client();
  if (kind !== 'image') {
    try {
      return await client.containerInspect(ref, size);
    } catch (err) {
      if (!isNotFound(err) || kind === 'container') throw err;
    }
  }
  return client.imageInspect(ref);
}

function missing(ref: string, kind: Kind | undefined): string {
  return `Error: No such ${kind ?? 'object'}: ${ref}`;
}

async function inspect(ctx: CliContext, args: ParsedArgs, kind: Kind | undefined): Promise<number> {
  const format = args.string('format');
  let template: Template | undefined;
  if (format && format !== 'json') {
    try {
      template = parseTemplate(format);
    } catch (err) {
      if (err instanceof TemplateError) throw new FormatError(`template parsing error: ${err.message}`);
      throw err;
    }
  }
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const ref of args.args) {
    try {
      found.push(await fetch(ctx, ref, kind, args.bool('size')));
    } catch (err) {
      if (isNotFound(err)) errors.push(missing(ref, kind));
      else if (err instanceof ClientError) errors.push(`Error response from daemon: ${err.message}`);
      else throw err;
    }
  }
  if (template) {
    for (const v of found) {
      try {
        ctx.stdout.write(`${template.execute(v)}\n`);
      } catch (err) {
        if (err instanceof TemplateError) throw new StatusError(err.message, 1);
        throw err;
      }
    }
  } else {
    ctx.stdout.write(`${inspectJson(found)}\n`);
  }
  if (errors.length) throw new StatusError(errors.join('\n'), 1);
  return 0;
}

const flags = [
  { name: 'format', short: 'f', type: 'string', help: FORMAT_HELP },
  { name: 'size', short: 's', type: 'bool', help: 'Display total file sizes if the type is container' },
] as const;

export const command: CommandSpec = {
  use: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  short: 'Return low-level information on Berth objects',
  flags: [...flags, { name: 'type', type: 'string', help: 'Only inspect objects of the given type' }],
  args: { min: 1 },
  run(ctx, args) {
    const type = args.string('type');
    if (type !== undefined && type !== 'container' && type !== 'image') {
      throw new StatusError(`"${type}" is not a valid value for --type`, 1);
    }
    return inspect(ctx, args, type);
  },
};

export const containerInspect: CommandSpec = {
  use: 'inspect [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Display detailed information on one or more containers',
  flags: [...flags],
  args: { min: 1 },
  run: (ctx, args) => inspect(ctx, args, 'container'),
};

export const imageInspect: CommandSpec = {
  use: 'inspect [OPTIONS] IMAGE [IMAGE...]',
  short: 'Display detailed information on one or more images',
  flags: [flags[0]],
  args: { min: 1 },
  run: (ctx, args) => inspect(ctx, args, 'image'),
};
