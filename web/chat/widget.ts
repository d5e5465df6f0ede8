// The click-to-chat widget (GET /chat.js), for any web page:
//
//   <script src="https://holdover.example.com/chat.js" data-holdover-to="sip:support@example.com" defer></script>
//
// It shows the status of a public user or group (GET /v1/availability/{aor}): the button is
// disabled when `na`; when `away` it says "nobody is available — leave a message"; and it runs
// the chat (POST /v1/chats, the visitor's lines, the long poll of the conversation). It talks to
// the Holdover that served it (the script's own origin, or data-holdover-api). Built ahead with
// esbuild into functions/chat-assets.generated.ts (npm run build:console); no framework.
//
// Safety: everything from the API or the visitor is set with textContent, never as HTML; the
// widget lives in a shadow root with a constructed stylesheet (nothing inline for a CSP to
// allow, nothing of the host page's styles leaks in or out). The chat token stays in memory and
// in this tab's sessionStorage, and travels only in the Authorization header.

interface Availability {
  status: 'active' | 'away' | 'na';
  available: number;
}

interface Line {
  id: string;
  from: string;
  name?: string;
  at: string;
  text: string;
  state: 'held' | 'delivered';
}

interface ChatView {
  status: 'open' | 'ended';
  visitor: string;
  lines: Line[];
  cursor: string;
}

interface Chat {
  chatId: string;
  token: string;
  visitor: string;
}

const STYLE = `
:host { all: initial; display: block; font: 15px/1.4 system-ui, sans-serif; color: #1b1b1b; max-width: 26rem; }
.box { border: 1px solid #c8c8c8; border-radius: 8px; padding: .75rem 1rem; background: #fff; }
.status { display: flex; gap: .5rem; align-items: center; margin: 0 0 .5rem; }
.dot { width: .7rem; height: .7rem; border-radius: 50%; background: #9a9a9a; flex: none; }
.active .dot { background: #1a7f37; }
.away .dot { background: #bf8700; }
button { font: inherit; padding: .4rem .9rem; border-radius: 6px; border: 1px solid #1f5fbf; background: #1f5fbf; color: #fff; cursor: pointer; }
button:disabled { background: #d0d0d0; border-color: #d0d0d0; color: #555; cursor: not-allowed; }
button:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #7aa7f0; outline-offset: 1px; }
label { display: block; margin: .4rem 0 .15rem; font-weight: 600; }
input, textarea { font: inherit; width: 100%; box-sizing: border-box; padding: .35rem .5rem; border: 1px solid #8c8c8c; border-radius: 4px; }
textarea { resize: vertical; min-height: 3.2rem; }
ol { list-style: none; margin: .5rem 0; padding: 0; max-height: 18rem; overflow-y: auto; }
li { margin: .35rem 0; padding: .35rem .6rem; border-radius: 6px; background: #eef2f8; white-space: pre-wrap; overflow-wrap: anywhere; }
li.mine { background: #e3f4e8; margin-left: 2rem; }
li.theirs { margin-right: 2rem; }
.who { display: block; font-size: .8rem; color: #444; }
.state { display: block; text-align: right; font-size: .75rem; color: #555; }
.note { font-size: .85rem; color: #444; margin: .4rem 0; }
.error { color: #b00020; font-size: .85rem; margin: .4rem 0; }
.row { display: flex; gap: .5rem; align-items: flex-end; margin-top: .4rem; }
.row textarea { flex: 1; }
[hidden] { display: none !important; }
`;

const STATUS_TEXT: Record<Availability['status'], (available: number) => string> = {
  active: (available) => (available > 1 ? `Available now (${available} people)` : 'Available now'),
  away: () => 'Nobody is available — leave a message',
  na: () => 'Chat is not available',
};

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  properties: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  for (const child of children) node.append(child);
  return node;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class Widget {
  private readonly root: ShadowRoot;
  private readonly statusLine = element('p', { className: 'status' });
  private readonly statusText = element('span');
  private readonly start = element('button', { type: 'button', textContent: 'Chat with us' });
  private readonly form = element('form', { hidden: true });
  private readonly nameInput = element('input', {
    id: 'ho-name',
    name: 'name',
    autocomplete: 'name',
    required: true,
    maxLength: 64,
  });
  private readonly emailInput = element('input', {
    id: 'ho-email',
    name: 'email',
    type: 'email',
    autocomplete: 'email',
    maxLength: 254,
  });
  private readonly panel = element('section', { hidden: true });
  private readonly log = element('ol');
  private readonly text = element('textarea', { id: 'ho-text', name: 'text', maxLength: 2000, rows: 2 });
  private readonly send = element('button', { type: 'submit', textContent: 'Send' });
  private readonly note = element('p', { className: 'note', hidden: true });
  private readonly error = element('p', { className: 'error', role: 'alert', hidden: true });
  private chat: Chat | undefined;
  private status: Availability['status'] = 'na';
  private polling = false;

  constructor(
    host: HTMLElement,
    private readonly api: string,
    private readonly to: string,
    private readonly label: string,
  ) {
    this.root = host.attachShadow({ mode: 'open' });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    this.root.adoptedStyleSheets = [sheet];
    this.start.textContent = label;
    const dot = element('span', { className: 'dot' });
    dot.setAttribute('aria-hidden', 'true');
    this.statusLine.append(dot, this.statusText);
    this.statusLine.setAttribute('aria-live', 'polite');
    this.log.setAttribute('aria-live', 'polite');
    this.start.disabled = true;
    this.start.addEventListener('click', () => this.openForm());

    const begin = element('button', { type: 'submit', textContent: 'Start chat' });
    this.form.append(
      element('label', { htmlFor: 'ho-name', textContent: 'Your name' }),
      this.nameInput,
      element('label', { htmlFor: 'ho-email', textContent: 'Email (optional: for answers after you leave)' }),
      this.emailInput,
      element('div', { className: 'row' }, begin),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.begin(begin);
    });

    const compose = element('form');
    compose.append(
      element('label', { htmlFor: 'ho-text', textContent: 'Your message' }),
      element('div', { className: 'row' }, this.text, this.send),
    );
    compose.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.say();
    });
    this.text.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        void this.say();
      }
    });
    this.panel.append(this.log, compose);

    const box = element('div', { className: 'box' });
    box.append(this.statusLine, this.start, this.form, this.panel, this.note, this.error);
    this.root.append(box);
    box.setAttribute('role', 'region');
    box.setAttribute('aria-label', 'Chat');
  }

  async run(): Promise<void> {
    const saved = sessionStorage.getItem(this.storageKey());
    if (saved) {
      try {
        this.chat = JSON.parse(saved) as Chat;
        this.showChat();
      } catch {
        sessionStorage.removeItem(this.storageKey());
      }
    }
    for (;;) {
      await this.refreshStatus();
      await new Promise((resolve) => setTimeout(resolve, 15_000));
    }
  }

  private storageKey(): string {
    return `holdover.chat:${this.to}`;
  }

  private async call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const response = await fetch(new URL(path, this.api), {
      method,
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      credentials: 'omit',
    });
    const answer: unknown = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message =
        typeof answer === 'object' && answer !== null && 'error' in answer
          ? String((answer as { error: { message?: unknown } }).error.message ?? '')
          : '';
      throw new ApiError(response.status, message || `The chat service answered ${response.status}`);
    }
    return answer as T;
  }

  private async refreshStatus(): Promise<void> {
    try {
      const answer = await this.call<Availability>('GET', `/v1/availability/${encodeURIComponent(this.to)}`);
      this.showStatus(answer.status, answer.available);
    } catch {
      this.showStatus('na', 0);
    }
  }

  private showStatus(status: Availability['status'], available: number): void {
    this.status = status;
    this.statusLine.className = `status ${status}`;
    this.statusText.textContent = STATUS_TEXT[status](available);
    this.start.disabled = status === 'na';
    this.start.textContent = status === 'away' ? 'Leave a message' : this.label;
    this.root.host.setAttribute('data-status', status);
  }

  private openForm(): void {
    this.start.hidden = true;
    this.form.hidden = false;
    this.nameInput.focus();
  }

  private async begin(button: HTMLButtonElement): Promise<void> {
    this.showError('');
    button.disabled = true;
    try {
      const email = this.emailInput.value.trim();
      this.chat = await this.call<Chat>('POST', '/v1/chats', {
        to: this.to,
        name: this.nameInput.value,
        ...(email ? { email } : {}),
      });
      sessionStorage.setItem(this.storageKey(), JSON.stringify(this.chat));
      this.showChat();
    } catch (error) {
      this.showError(error instanceof Error ? error.message : String(error));
    } finally {
      button.disabled = false;
    }
  }

  private showChat(): void {
    this.start.hidden = true;
    this.form.hidden = true;
    this.panel.hidden = false;
    if (this.status === 'away') {
      this.showNote(
        'Nobody is available right now: your message is kept and answered as soon as someone is back.',
      );
    }
    this.text.focus();
    if (!this.polling) void this.poll();
  }

  private async say(): Promise<void> {
    const chat = this.chat;
    const text = this.text.value.trim();
    if (chat === undefined || text === '') return;
    this.send.disabled = true;
    this.showError('');
    try {
      await this.call('POST', `/v1/chats/${chat.chatId}/messages`, { text }, chat.token);
      this.text.value = '';
    } catch (error) {
      this.showError(error instanceof Error ? error.message : String(error));
    } finally {
      this.send.disabled = false;
      this.text.focus();
    }
  }

  /** The long poll: the conversation each time something changes. */
  private async poll(): Promise<void> {
    this.polling = true;
    let cursor = '';
    let failures = 0;
    while (this.chat !== undefined) {
      const chat = this.chat;
      try {
        const view = await this.call<ChatView>(
          'GET',
          `/v1/chats/${chat.chatId}/messages?after=${encodeURIComponent(cursor)}&wait=20`,
          undefined,
          chat.token,
        );
        failures = 0;
        cursor = view.cursor;
        this.render(view);
        if (view.status === 'ended') break;
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 404)) {
          this.end('This chat is over. Reload the page to start a new one.');
          break;
        }
        failures++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** failures)));
      }
    }
    this.polling = false;
  }

  private render(view: ChatView): void {
    const items = view.lines.map((line) => {
      const mine = line.from === view.visitor;
      const who = mine ? 'You' : (line.name ?? line.from.replace(/^sip:/, ''));
      const item = element(
        'li',
        { className: mine ? 'mine' : 'theirs' },
        element('span', { className: 'who', textContent: who }),
        line.text,
      );
      if (mine) {
        item.append(
          element('span', {
            className: 'state',
            textContent: line.state === 'delivered' ? '✓ delivered' : '… waiting',
          }),
        );
      }
      item.dataset.state = line.state;
      return item;
    });
    this.log.replaceChildren(...items);
    this.log.scrollTop = this.log.scrollHeight;
    if (view.status === 'ended')
      this.end('This chat has ended. Answers that come later are emailed to you if you left your address.');
  }

  private end(message: string): void {
    this.chat = undefined;
    sessionStorage.removeItem(this.storageKey());
    this.send.disabled = true;
    this.text.disabled = true;
    this.showNote(message);
  }

  private showNote(message: string): void {
    this.note.textContent = message;
    this.note.hidden = message === '';
  }

  private showError(message: string): void {
    this.error.textContent = message;
    this.error.hidden = message === '';
  }
}

/** Every script tag of this widget on the page gets its widget, right after the tag. */
function mount(script: HTMLScriptElement): void {
  const to =
    script.dataset.holdoverTo ??
    (location.pathname.startsWith('/chat/') ? decodeURIComponent(location.pathname.slice(6)) : '');
  if (to === '') return;
  const api = script.dataset.holdoverApi ?? new URL(script.src, location.href).origin;
  const host = document.createElement('div');
  host.className = 'holdover-chat';
  script.after(host);
  void new Widget(host, api, to, script.dataset.holdoverLabel ?? 'Chat with us').run();
}

const current = document.currentScript;
if (current instanceof HTMLScriptElement) mount(current);
