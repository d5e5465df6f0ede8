// The dependency rules between the deployables (docs/design.md "Layout"): each deployable imports
// shared/ (the contract, signing, env reading, the AOR normaliser…) but never another's code.
// This walks the source tree and fails on the first forbidden import, naming file and line.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Rule {
  /** Files under this folder… */
  from: string;
  /** …import nothing under these folders (or packages). */
  forbidden: readonly string[];
  why: string;
}

const RULES: readonly Rule[] = [
  {
    from: 'shared/',
    forbidden: ['edge/', 'functions/', 'infra/', 'local/', 'web/'],
    why: 'shared/ is imported by every deployable and imports none',
  },
  {
    from: 'edge/',
    forbidden: ['functions/', 'infra/', 'local/'],
    why: 'the edge is its own image: what it shares with the API lives in shared/',
  },
  {
    from: 'infra/',
    forbidden: ['edge/', 'functions/adapters/', 'local/'],
    why: 'the construct reads declarations (shared/, infra/catalogue.ts), never run-time code',
  },
  {
    from: 'functions/core/',
    forbidden: ['functions/adapters/', 'edge/', 'infra/', 'local/', '@aws-sdk/'],
    why: 'the core talks to ports; adapters implement them',
  },
  {
    from: 'functions/',
    forbidden: ['edge/', 'local/'],
    why: 'the functions reach the edge over signed HTTP only',
  },
];

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g;

/** Each import of `source` (a file at `file`, relative to the root): its target and line. */
function importsOf(file: string, source: string): Array<{ target: string; line: number }> {
  const found: Array<{ target: string; line: number }> = [];
  for (const match of source.matchAll(IMPORT)) {
    const specifier = match[2] ?? '';
    const line = source.slice(0, match.index).split('\n').length;
    const target = specifier.startsWith('.')
      ? relative(root, resolve(root, dirname(file), specifier)).replaceAll('\\', '/')
      : specifier;
    found.push({ target, line });
  }
  return found;
}

/** The forbidden imports of one file, as `file:line imports target (why)`. */
function violationsOf(file: string, source: string): string[] {
  const rules = RULES.filter((rule) => file.startsWith(rule.from));
  const violations: string[] = [];
  for (const { target, line } of importsOf(file, source)) {
    for (const rule of rules) {
      const banned = rule.forbidden.find(
        (prefix) => target === prefix.slice(0, -1) || target.startsWith(prefix),
      );
      if (banned !== undefined) violations.push(`${file}:${line} imports ${target} (${rule.why})`);
    }
  }
  return violations;
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(ts|mts|mjs)$/.test(entry.name) && !entry.name.endsWith('.generated.ts')) files.push(path);
  }
  return files;
}

describe('import boundaries between the deployables', () => {
  it('the checker finds a forbidden import (so the walk below can fail)', () => {
    expect(violationsOf('edge/app.ts', "import { x } from '../functions/core/capture.ts';\n")).toEqual([
      expect.stringMatching(/^edge\/app\.ts:1 imports functions\/core\/capture\.ts/),
    ]);
    expect(violationsOf('infra/x.ts', "const m = await import('../edge/config.ts');")).toHaveLength(1);
    expect(violationsOf('shared/a.ts', "import { y } from './b.ts';")).toEqual([]);
    expect(violationsOf('functions/core/a.ts', "import { S } from '@aws-sdk/client-sqs';")).toHaveLength(1);
  });

  it('no file imports across a boundary', () => {
    const violations = ['shared', 'edge', 'infra', 'functions'].flatMap((dir) =>
      sourceFiles(dir).flatMap((file) => violationsOf(file, readFileSync(join(root, file), 'utf8'))),
    );
    expect(violations).toEqual([]);
  });

  it('the code the Lambda bundles carry takes zod from shared/zod.ts only (zod/mini, English messages)', () => {
    // one classic `import … from 'zod'` would put all of classic zod back into the bundles (the
    // cold start, bench/results/cold.md), and a bare zod/mini one would refuse with "Invalid input"
    const direct = ['shared', 'functions']
      .flatMap((dir) => sourceFiles(dir))
      .filter((file) => file !== 'shared/zod.ts')
      .flatMap((file) =>
        importsOf(file, readFileSync(join(root, file), 'utf8'))
          .filter(({ target }) => target === 'zod' || target.startsWith('zod/'))
          .map(({ target, line }) => `${file}:${line} imports ${target}`),
      );
    expect(direct).toEqual([]);
  });

  it("the CLI casts no answer: each is parsed with the contract's schemas", () => {
    const cli = readFileSync(join(root, 'local', 'cli.ts'), 'utf8');
    const casts = cli
      .split('\n')
      .map((line, index) => ({ line: index + 1, text: line }))
      .filter(
        ({ text }) => /\)\s+as\s+(?!const\b)[A-Z{]/.test(text) || /\bas\s+(unknown|Record<)/.test(text),
      );
    expect(casts).toEqual([]);
  });
});
