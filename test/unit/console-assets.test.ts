// The web console's page as served: built from web/console/ (the generated module is current),
// with no inline script or style for the CSP to allow, and no way for API data to become markup.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSOLE_HTML, CONSOLE_SCRIPT } from '../../functions/console-assets.generated.ts';

const root = resolve(import.meta.dirname, '..', '..');

describe('console assets', () => {
  it('are built from the current sources (npm run build:console)', () => {
    expect(() =>
      execFileSync(process.execPath, [join(root, 'web', 'build.mjs'), '--check'], { stdio: 'pipe' }),
    ).not.toThrow();
  });

  it('have no inline script, style or event handler, and load only from this origin', () => {
    expect(CONSOLE_HTML).not.toMatch(/<script(?![^>]*\ssrc="\/console\/app\.js")/);
    expect(CONSOLE_HTML).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(CONSOLE_HTML).not.toMatch(/https?:\/\//);
  });

  it('never turn API data into markup: no innerHTML, outerHTML, insertAdjacentHTML or document.write', () => {
    const source = readFileSync(join(root, 'web', 'console', 'app.ts'), 'utf8');
    for (const text of [source, CONSOLE_SCRIPT]) {
      expect(text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    }
  });

  it('label every form control', () => {
    const ids = [...CONSOLE_HTML.matchAll(/<(?:input|select|textarea)\b[^>]*\sid="([^"]+)"/g)].map(
      (m) => m[1],
    );
    const wrapped = [...CONSOLE_HTML.matchAll(/<label><input\b/g)].length;
    const labelled = ids.filter((id) => CONSOLE_HTML.includes(`for="${id}"`));
    expect(labelled).toEqual(ids);
    expect(wrapped).toBe(5); // the hold-state checkboxes, each inside its label
  });
});

describe('chat assets (GET /chat/{aor}, GET /chat.js)', () => {
  it('the page loads only chat.js from this origin, with nothing inline', async () => {
    const { CHAT_PAGE_HTML } = await import('../../functions/chat-assets.generated.ts');
    expect([...CHAT_PAGE_HTML.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual([
      '<script src="/chat.js" defer>',
    ]);
    expect(CHAT_PAGE_HTML).not.toMatch(/<style|\sstyle=|\son[a-z]+=|https?:\/\//i);
  });

  it('the script never turns API or visitor data into markup, and is one small file', async () => {
    const { CHAT_SCRIPT } = await import('../../functions/chat-assets.generated.ts');
    const source = readFileSync(join(root, 'web', 'chat', 'widget.ts'), 'utf8');
    for (const text of [source, CHAT_SCRIPT]) {
      expect(text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    }
    expect(CHAT_SCRIPT.length).toBeLessThan(16_384);
    expect(CHAT_SCRIPT).not.toMatch(/\bimport\b|\brequire\(/);
  });
});
