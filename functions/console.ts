// GET / and GET /console/{asset} — the web console (docs/design.md "Security"): one static page, its
// stylesheet and its script (built ahead: web/build.mjs), served with a strict Content-Security-
// Policy. The page holds no data: the script asks the API with the person's token.

import { NotFoundError } from '../shared/errors.ts';
import { authorizedRoute } from './adapters/http.ts';
import { CONSOLE_CSS, CONSOLE_HTML, CONSOLE_SCRIPT } from './console-assets.generated.ts';

/** Only this origin's script and style; no inline code, no framing, forms post nowhere else. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const ASSETS: Record<string, { type: string; text: string }> = {
  'app.js': { type: 'text/javascript; charset=utf-8', text: CONSOLE_SCRIPT },
  'console.css': { type: 'text/css; charset=utf-8', text: CONSOLE_CSS },
};

export const pageHandler = authorizedRoute('console', undefined, async () => ({
  status: 200,
  headers: { 'content-type': 'text/html; charset=utf-8', ...PAGE_HEADERS },
  text: CONSOLE_HTML,
}));

export const assetHandler = authorizedRoute('consoleAsset', undefined, async ({ pathParameters }) => {
  const asset = ASSETS[pathParameters.asset ?? ''];
  if (asset === undefined) throw new NotFoundError('No such console file');
  return { status: 200, headers: { 'content-type': asset.type, ...PAGE_HEADERS }, text: asset.text };
});
