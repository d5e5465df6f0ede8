// GET /chat/{aor} and GET /chat.js — click-to-chat for web visitors (docs/design.md
// "Click-to-chat"): a page served by Holdover, and the one script any site embeds (built ahead:
// web/build.mjs). The page is the same for every address (the script reads it from the path),
// so nothing of the request ever becomes markup; its CSP allows this origin's script and API only.
import { authorizedRoute } from './adapters/http.ts';
import { CHAT_PAGE_HTML, CHAT_SCRIPT } from './chat-assets.generated.ts';

/** The page: this origin's script and API calls, nothing inline, no framing. */
export const CHAT_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const pageHandler = authorizedRoute('chatPage', undefined, async () => ({
  status: 200,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': CHAT_PAGE_CSP,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
  },
  text: CHAT_PAGE_HTML,
}));

/**
 * The embeddable script: loaded by a <script> tag on any origin (no CORS needed for that; the
 * resource policy says it may be), cacheable for a few minutes.
 */
export const scriptHandler = authorizedRoute('chatScript', undefined, async () => ({
  status: 200,
  headers: {
    'content-type': 'text/javascript; charset=utf-8',
    'cache-control': 'public, max-age=300',
    'cross-origin-resource-policy': 'cross-origin',
  },
  text: CHAT_SCRIPT,
}));
