import { z } from 'zod';
import { Config } from '../config/schema.js';
import { writeLine, type Command } from './io.js';

/** The config's JSON Schema, for editors (`# yaml-language-server: $schema=...`). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(Config, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://keywatch.dev/schema/config.json', title: 'keywatch config' };
}

const schema: Command = async (_args, io) => {
  writeLine(io.stdout, JSON.stringify(configJsonSchema(), null, 2));
  return 0;
};
export default schema;
