/**
 * The fast YAML path (js-yaml) must give exactly what yaml's parseDocument().toJS() gives, or step
 * aside so that yaml parses (and words any error) as before. Compared here on every YAML file in the
 * repo, on edge cases of YAML 1.2's core schema and syntax, and on generated documents.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchConfigYaml } from '../../bench/daemon-config.js';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseConfig } from './load.js';
import { fastParse, parseYaml, slowParse } from './yaml.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The fast path agrees with yaml, or leaves the text to it. Returns whether it was taken. */
function agrees(text: string): boolean {
  const slow = slowParse(text);
  const fast = fastParse(text);
  if (fast !== undefined) {
    expect(slow, `yaml rejects what js-yaml accepted:\n${text}`).toMatchObject({ ok: true });
    expect(fast.value, text).toStrictEqual((slow as { value: unknown }).value);
  }
  expect(parseYaml(text)).toStrictEqual(slow);
  return fast !== undefined;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out;
}

describe('fast YAML path', () => {
  it('takes the fast path for the example configs and agrees on every YAML file in the repo', () => {
    const files = yamlFiles(ROOT);
    expect(files.length).toBeGreaterThan(10);
    const taken = files.filter((f) => agrees(readFileSync(f, 'utf8')));
    for (const f of ['config/keywatch.yaml', 'config/demo.yaml', 'deploy/docker/keywatch.yaml']) expect(taken).toContain(join(ROOT, f));
  });

  it("takes the fast path for the benchmark's config and gives yaml's result", () => {
    const text = benchConfigYaml({ simUrl: 'http://127.0.0.1:9', storePath: '/tmp/x.db', keys: 300, intervalS: 60, maxRequestsPerSecond: 100 });
    expect(agrees(text)).toBe(true);
  });

  // Plain scalars as the core schema resolves them (yaml), including the forms YAML 1.1 read differently.
  const SCALARS = [
    '1', '-0', '+12', '007', '0o17', '0o8', '0x1F', '0X1F', '-0x1F', '0b101', '1_000', '1e3', '1E3', '-1.5e-3', '.5', '5.', '-.5',
    '.inf', '-.Inf', '+.INF', '.nan', '.NaN', '.NAN', '1e999', '-1e999', '123456789012345678901234567890', '9'.repeat(400),
    '~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRUE', 'false', 'False', 'FALSE', 'yes', 'no', 'on', 'off', 'y', 'n',
    '2024-01-01', '2024-01-01T10:00:00Z', '12:30', '1:20:30', '0.1.2', '1,000', '$5', '${VAR}', '$$', 'a b', 'http://x:1/y', 'a#b',
    'sk-or-v1-test-0001', '-', '--', '.', '..', '+', '=', '<<', 'é', '名前', '😀',
  ];

  it('resolves plain, quoted and explicitly tagged scalars as yaml does', () => {
    let taken = 0;
    for (const s of SCALARS) {
      for (const text of [`a: ${s}\n`, `- ${s}\n`, `a: [${s}]\n`, `a: {b: ${s}}\n`, `a: "${s}"\n`, `a: '${s}'\n`, `${s}\n`, `a: !!str ${s}\n`, `a: !!int ${s}\n`, `a: !!float ${s}\n`]) {
        if (agrees(text)) taken++;
      }
    }
    expect(taken).toBeGreaterThan(SCALARS.length * 5);
  });

  const SYNTAX = [
    // strings
    'a: "tab\\there \\x41 \\u263A \\U0001F600 \\N \\_ \\L \\P \\/ \\" \\\\ \\0 \\a \\e"\n',
    "a: 'it''s'\n",
    'a: plain\n  continued\n\n  after a blank\n',
    'a: "double\n  folded\n\n  kept \\\n  joined"\n',
    "a: 'single\n  folded'\n",
    'a: |\n  line 1\n    indented\n  line 3\n\n',
    'a: |-\n  x\n  y\n\n\n',
    'a: |+\n  x\n\n\nb: 1\n',
    'a: >\n  folded\n  text\n\n  para\n    more\n  end\n',
    'a: >-\n  x\n  y\n',
    'a: |2\n   lead\n  b\n',
    'a: |\n\n  starts blank\n',
    // collections
    'a: {b: 1, c: [1, 2, {d: e}], f: {}}\ng: []\n',
    'a:\n- 1\n- 2\nb:\n  - c: 1\n    d: 2\n  - - x\n    - y\n',
    '- - a\n  - b\n- - c\n',
    '- a: 1\n  b: 2\n-\n  c: 3\n',
    '? a\n: b\n? c\n',
    'a: {b, c: d}\n',
    'a: [b: c, d]\n',
    '{a: 1, b: 2}\n',
    '[1, [2, [3]]]\n',
    'a: [\n  1,\n  2,\n]\n',
    'a: {x: 1,\n  y: 2}\n',
    'a:\n  b:\n    c:\n      d: deep\n',
    '"quoted key": 1\n\'single key\': 2\n',
    '"1": a\n"true": b\n"null": c\n',
    'a:b: c\n',
    '{a:1}\n',
    '[a:1]\n',
    // comments, markers, encodings
    '# head\na: 1 # trailing\n# between\nb: 2\n',
    '---\na: 1\n',
    '--- # comment\na: 1\n...\n',
    '---\n- a\n',
    '\uFEFFa: 1\n',
    'a: 1\r\nb:\r\n  - 2\r\n  - "x\r\n  y"\r\n',
    'a: 1',
    'a:    \n',
    'a: b   \n',
    'a: -1\nb: - 1\n',
    '名前: 値\n😀: 1\n',
    'a: &anchor 1\n',
    '<<: {a: 1}\nb: 2\n',
    'defaults: { interval: 1m, timeout: 2s }\nkeys:\n  - { name: a, provider: openrouter, key: "${KEY}", labels: { team: search } }\n',
  ];

  it('agrees on block, flow, quoted and folded syntax', () => {
    const taken = SYNTAX.filter((t) => agrees(t));
    expect(taken.length).toBeGreaterThan(SYNTAX.length - 8);
  });

  // What yaml reads differently from js-yaml's defaults, or reports: the fast path must step aside.
  const LEFT_TO_YAML = [
    'a: 1\na: 2\n',
    'a: {b: 1, b: 2}\n',
    'a: &x {b: 1}\nc: *x\n',
    'a: &x 1\nb: *x\n',
    '%YAML 1.1\n---\na: yes\nb: 0o17\nc: 017\n',
    '%YAML 1.2\n---\na: 1\n',
    '%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n',
    'a: 1\n---\nb: 2\n',
    '',
    '# only a comment\n',
    '1: a\n',
    'null: x\n',
    '~: x\n',
    'true: x\n',
    '[a]: b\n',
    '{a: b}: c\n',
    '__proto__: {x: 1}\n',
    '"__proto__": 1\n',
    `${'k'.repeat(200)}: 1\n`,
    `${'k'.repeat(1100)}: 1\n`,
    'a: !foo bar\n',
    'a: !!binary aGVsbG8=\n',
    'a: !!set {x, y}\n',
    'a: !!omap [x: 1]\n',
    'a: !!timestamp 2024-01-01\n',
    'a: !!null ""\n',
    'a: !!bool "true"\n',
  ];

  it('leaves to yaml what js-yaml would read differently', () => {
    for (const text of LEFT_TO_YAML) {
      agrees(text);
      expect(fastParse(text), text).toBeUndefined();
    }
  });

  const ERRORS = [
    'a: [1, 2\n',
    'a: "unterminated\n',
    'a: b: c\n',
    '- a\nb: c\n',
    'a:\n\tb: 1\n',
    'a: @x\n',
    'a: `x\n',
    'a: 1\n  b: 2\n',
    'a:\n  - 1\n - 2\n',
    'a: [1,\n2]\n',
    'a: {b: 1\n',
    'a: "x"y\n',
    'a: |\n  x\n y\n',
    '- a: 1\n   b: 2\n',
    ': x\n',
    'a: b\n---\n',
    'key: value\n  bad indent: 1\n',
  ];

  it("reports yaml's own errors for text either parser refuses", () => {
    for (const text of ERRORS) {
      agrees(text);
      const r = parseYaml(text);
      if (!r.ok) expect(r.errors).toStrictEqual((slowParse(text) as { errors: string[] }).errors);
    }
    expect(parseYaml('a: [1, 2\n')).toStrictEqual(slowParse('a: [1, 2\n'));
    expect(parseYaml('a: 1\na: 2\n')).toMatchObject({ ok: false, errors: [expect.stringContaining('Map keys must be unique')] });
  });

  it('agrees on generated documents mixing block and flow styles and every scalar form', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!;
    const KEYS = ['name', 'provider', 'key', 'labels', 'team', 'interval', 'a b', 'x-y', 'é', 'on', 'no', '"q"', "'s'", '"1"'];
    const scalar = (): string => {
      const s = pick(SCALARS);
      const style = rand(4);
      return style === 0 ? JSON.stringify(s) : style === 1 ? `'${s.replace(/'/g, "''")}'` : s;
    };
    const flow = (depth: number): string => {
      if (depth > 2 || rand(3) === 0) return scalar();
      if (rand(2) === 0) return `[${Array.from({ length: rand(4) }, () => flow(depth + 1)).join(', ')}]`;
      const keys = [...new Set(Array.from({ length: rand(4) }, () => pick(KEYS)))];
      return `{${keys.map((k) => `${k}: ${flow(depth + 1)}`).join(', ')}}`;
    };
    const block = (indent: string, depth: number): string => {
      if (depth > 3) return `${indent}v: ${flow(depth)}\n`;
      if (rand(3) === 0) {
        return Array.from({ length: 1 + rand(3) }, () => (rand(2) === 0 ? `${indent}- ${flow(depth)}\n` : `${indent}-\n${block(`${indent}  `, depth + 1)}`)).join('');
      }
      const keys = [...new Set(Array.from({ length: 1 + rand(4) }, () => pick(KEYS)))];
      return keys.map((k) => (rand(2) === 0 ? `${indent}${k}: ${flow(depth)}\n` : `${indent}${k}:\n${block(`${indent}  `, depth + 1)}`)).join('');
    };
    let taken = 0;
    for (let i = 0; i < 400; i++) if (agrees(block('', 0))) taken++;
    expect(taken).toBeGreaterThan(200);
  });

  it('words config syntax errors as before: yaml\'s first line of each, at the root', () => {
    for (const text of ['keys:\n  - { name: a, provider: openrouter\n', 'defaults: { interval: 1m }\ndefaults: { timeout: 2s }\n', 'keys:\n\t- name: a\n']) {
      const before = parseDocument(text, { prettyErrors: false, uniqueKeys: true }).errors.map((e) => ({ path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` }));
      expect(before.length).toBeGreaterThan(0);

      let thrown: unknown;
      try {
        parseConfig(text, { env: {} });
      } catch (err) {
        thrown = err;
      }

      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).issues).toStrictEqual(before);
    }
  });
});
