/**
 * YAML text -> plain data, exactly as `parseDocument(text, { uniqueKeys: true }).toJS()` of the
 * `yaml` library gives it (YAML 1.2, core schema), but fast for large configs.
 *
 * Why two parsers: yaml's document model costs ~0.7-1 s (a quarter of it GC) for a config listing
 * 10,000 keys, most of keywatch's start-up budget; js-yaml builds plain values directly in ~0.1-0.25 s.
 * js-yaml is used only where the result is certainly the same, and yaml does everything else:
 *  - its plain scalars resolve through tags copied from yaml's core schema (same patterns, same
 *    parseInt/parseFloat), so `1e999`, `0o17`, `~`, `True` become what yaml makes of them;
 *  - anything that yaml treats differently or reports, js-yaml is made to refuse: non-string or
 *    long keys, `__proto__`, aliases, explicit tags on those scalars, duplicate keys, directives,
 *    several documents, an empty file;
 *  - when js-yaml refuses or fails, yaml parses the text as before: every syntax error is reported
 *    by yaml, worded as before.
 * src/config/yaml.test.ts compares both on every YAML file in the repo and on edge cases.
 */
import { createRequire } from 'node:module';
import { CORE_SCHEMA, defineMappingTag, defineScalarTag, load, NOT_RESOLVED } from 'js-yaml';

/** yaml is loaded only when needed (~20-30 ms of start-up otherwise); Node resolves it to its CommonJS build either way. */
const yamlLib = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export type YamlResult = { ok: true; value: unknown } | { ok: false; errors: string[] };

/** Parses one YAML document into plain data, or yaml's error messages. */
export function parseYaml(text: string): YamlResult {
  const fast = fastParse(text);
  if (fast !== undefined) return { ok: true, value: fast.value };
  return slowParse(text);
}

/** yaml's document model: the reference, and the one that words the errors. */
export function slowParse(text: string): YamlResult {
  const doc = yamlLib().parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false, errors: doc.errors.map((e) => e.message) };
  return { ok: true, value: doc.toJS() };
}

/** js-yaml where it certainly agrees with yaml; undefined when it is not sure. */
export function fastParse(text: string): { value: unknown } | undefined {
  // A directive (`%YAML 1.1` switches yaml to another schema): not worth a second look.
  if (text.startsWith('%') || text.includes('\n%')) return undefined;
  try {
    const value = load(text, { schema: SCHEMA, maxAliases: 0 });
    return { value: value === undefined ? null : value };
  } catch {
    return undefined;
  }
}

// ---- yaml's core schema, for js-yaml ------------------------------------------------------------

/** A plain scalar resolved by yaml's rules; explicit tags (`!!int "1"`) are left to yaml. */
function coreTag(name: string, firstChars: string[], resolve: (source: string) => unknown) {
  return defineScalarTag(`tag:yaml.org,2002:${name}`, {
    implicit: true,
    implicitFirstChars: firstChars,
    resolve: (source, isExplicit) => (isExplicit ? NOT_RESOLVED : resolve(source)),
    identify: () => false,
  });
}

const DIGITS = [...'0123456789'];

// The patterns and conversions of yaml/dist/schema/common/null.js and core/{bool,int,float}.js,
// tried in the same order (null, bool, intOct, int, intHex, floatNaN, floatExp, float).
const nullTag = coreTag('null', ['', '~', 'n', 'N'], (s) => (/^(?:~|[Nn]ull|NULL)?$/.test(s) ? null : NOT_RESOLVED));
const boolTag = coreTag('bool', ['t', 'T', 'f', 'F'], (s) => (/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s) ? s[0] === 't' || s[0] === 'T' : NOT_RESOLVED));
const intTag = coreTag('int', ['-', '+', ...DIGITS], (s) => {
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.substring(2), 8);
  if (/^[-+]?[0-9]+$/.test(s)) return parseInt(s, 10);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.substring(2), 16);
  return NOT_RESOLVED;
});
const floatTag = coreTag('float', ['-', '+', '.', ...DIGITS], (s) => {
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s)) {
    return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s)) return parseFloat(s);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)) return parseFloat(s);
  return NOT_RESOLVED;
});

/**
 * Keys longer than this go to yaml: it refuses implicit keys over 1024 characters of source, and a
 * key's source can be several times its value (escapes).
 */
const MAX_FAST_KEY = 128;

/** Plain objects with string keys, as yaml's toJS() builds them; any other key is refused. */
const mapTag = defineMappingTag('tag:yaml.org,2002:map', {
  create: () => ({}) as Record<string, unknown>,
  addPair: (map, key, value) => {
    // yaml writes a null key as '' where js-yaml writes 'null', and so on: only strings are certain.
    if (typeof key !== 'string') return 'not a string key';
    if (key.length > MAX_FAST_KEY || key === '__proto__') return 'left to yaml';
    map[key] = value;
    return '';
  },
  has: (map, key) => typeof key === 'string' && Object.prototype.hasOwnProperty.call(map, key),
  keys: (map) => Object.keys(map),
  get: (map, key) => map[key as string],
  identify: () => false,
});

const SCHEMA = CORE_SCHEMA.withTags(nullTag, boolTag, intTag, floatTag, mapTag);
