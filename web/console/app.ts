// The web console in the browser: sign in, see what waits, change settings; for admins the
// overview. Built ahead into functions/console-assets.generated.ts (npm run build:console).
//
// Safety: everything shown that came from the API is set with textContent (message text and
// display names are attacker-controlled), never as HTML. The token lives in sessionStorage and
// goes in the Authorization header: the browser never attaches it by itself, so another site
// cannot make a request with it (no CSRF), and it is gone when the tab closes.

const TOKEN_KEY = 'holdover.session';
const HOLD_STATES = ['offline', 'busy', 'dnd', 'brb', 'away'] as const;
const DEFAULT_HOLD: readonly string[] = HOLD_STATES;

interface Session {
  token: string;
  expiresAt: string;
  aor: string;
  role: 'user' | 'admin';
}

interface Issue {
  path: string;
  message: string;
}

interface ApiError {
  status: number;
  message: string;
  issues: Issue[];
  retryAfter?: number;
}

interface HeldView {
  id: string;
  from: string;
  fromName?: string;
  body: string | null;
  contentType: string;
  receivedAt: string;
  expiresAt: string;
  state: string;
}

interface Settings {
  email?: string;
  expireAfter?: string;
  hold?: string[];
  onExpire?: string;
  offlineNotice?: string;
  timeZone?: string;
  vacation?: { until: string; autoReply: string };
}

type View = 'sign-in' | 'messages' | 'settings' | 'overview';

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page lacks #${id}`);
  return found as T;
}

function input(id: string): HTMLInputElement {
  return element<HTMLInputElement>(id);
}

function session(): Session | undefined {
  const stored = sessionStorage.getItem(TOKEN_KEY);
  if (!stored) return undefined;
  try {
    const parsed = JSON.parse(stored) as Session;
    if (Date.parse(parsed.expiresAt) <= Date.now()) {
      sessionStorage.removeItem(TOKEN_KEY);
      return undefined;
    }
    return parsed;
  } catch {
    sessionStorage.removeItem(TOKEN_KEY);
    return undefined;
  }
}

function say(text: string): void {
  element('status').textContent = text;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const current = session();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (current) headers.authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw { status: 0, message: 'The server cannot be reached; try again in a moment.', issues: [] };
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = {};
  }
  if (!response.ok) {
    const error = (parsed as { error?: { message?: string; issues?: Issue[] } }).error;
    const failure: ApiError = {
      status: response.status,
      message: error?.message ?? `The server answered ${response.status}`,
      issues: error?.issues ?? [],
    };
    const retryAfter = Number(response.headers.get('retry-after'));
    if (Number.isFinite(retryAfter) && retryAfter > 0) failure.retryAfter = retryAfter;
    if (response.status === 401 && current && path !== '/v1/session') {
      sessionStorage.removeItem(TOKEN_KEY);
      show('sign-in');
      say('Your session has ended: sign in again.');
    }
    throw failure;
  }
  return parsed as T;
}

function isApiError(error: unknown): error is ApiError {
  return typeof error === 'object' && error !== null && 'message' in error && 'issues' in error;
}

function messageOf(error: unknown): string {
  return isApiError(error) ? error.message : String(error);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function when(iso: string): HTMLTimeElement {
  const time = document.createElement('time');
  time.dateTime = iso;
  time.textContent = dateTime.format(new Date(iso));
  return time;
}

function cell(row: HTMLTableRowElement, content: string | Node, className?: string): void {
  const td = row.insertCell();
  if (className) td.className = className;
  if (typeof content === 'string') td.textContent = content;
  else td.append(content);
}

// --- views -----------------------------------------------------------------------------------

const VIEWS: View[] = ['sign-in', 'messages', 'settings', 'overview'];

function show(view: View): void {
  const current = session();
  const allowed: View = !current
    ? 'sign-in'
    : view === 'overview' && current.role !== 'admin'
      ? 'messages'
      : view;
  for (const name of VIEWS) element(`view-${name}`).hidden = name !== allowed;
  element('nav').hidden = !current;
  element('nav-overview-item').hidden = current?.role !== 'admin';
  element('who').textContent = current ? `${current.aor}${current.role === 'admin' ? ' (admin)' : ''}` : '';
  for (const name of ['messages', 'settings', 'overview'] as const) {
    const link = element(`nav-${name}`);
    if (name === allowed) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const heading = element(`${allowed}-title`);
  heading.focus();
  if (allowed === 'sign-in') document.title = 'Sign in · Holdover';
  if (allowed === 'messages') void loadMessages();
  if (allowed === 'settings') void loadSettings();
  if (allowed === 'overview') void loadOverview();
}

function route(): void {
  const wanted = location.hash.slice(1);
  show((VIEWS as string[]).includes(wanted) && wanted !== 'sign-in' ? (wanted as View) : 'messages');
}

// --- sign in / out ---------------------------------------------------------------------------

async function signIn(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const errorLine = element('sign-in-error');
  errorLine.textContent = '';
  const aor = input('sign-in-aor').value.trim();
  const password = input('sign-in-password').value;
  if (!aor || !password) {
    errorLine.textContent = 'Enter your SIP address and your password.';
    (aor ? input('sign-in-password') : input('sign-in-aor')).focus();
    return;
  }
  try {
    const signedIn = await api<Session>('POST', '/v1/session', {
      aor: aor.startsWith('sip:') || aor.startsWith('sips:') ? aor : `sip:${aor}`,
      password,
    });
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(signedIn));
    input('sign-in-password').value = '';
    say('');
    if (location.hash === '#messages') route();
    else location.hash = '#messages';
  } catch (error) {
    errorLine.textContent =
      isApiError(error) && error.status === 429
        ? `Too many failed attempts: wait ${error.retryAfter ?? 1} seconds, then try again.`
        : messageOf(error);
    input('sign-in-password').focus();
  }
}

async function signOut(): Promise<void> {
  try {
    await api('DELETE', '/v1/session');
  } catch {
    // the token is forgotten here either way
  }
  sessionStorage.removeItem(TOKEN_KEY);
  document.title = 'Sign in · Holdover';
  show('sign-in');
  say('You are signed out.');
}

// --- messages --------------------------------------------------------------------------------

async function loadMessages(): Promise<void> {
  const body = element('messages-body');
  const summary = element('messages-summary');
  try {
    const { messages } = await api<{ messages: HeldView[] }>('GET', '/v1/me/messages?limit=1000');
    body.replaceChildren();
    for (const message of messages) {
      const row = (element('messages-table') as HTMLTableElement).tBodies[0]?.insertRow();
      if (!row) continue;
      cell(row, message.fromName ? `${message.fromName} <${message.from}>` : message.from);
      cell(row, when(message.receivedAt));
      cell(row, message.body ?? `(${message.contentType} content)`, 'text');
      cell(row, when(message.expiresAt));
      cell(row, message.state);
    }
    element('messages-table').hidden = messages.length === 0;
    summary.textContent =
      messages.length === 0
        ? 'Nothing is waiting for you.'
        : `${messages.length} message${messages.length === 1 ? '' : 's'} waiting, oldest first.`;
    document.title = `(${messages.length}) Messages · Holdover`;
  } catch (error) {
    summary.textContent = `Your messages could not be loaded: ${messageOf(error)}`;
  }
}

// --- settings --------------------------------------------------------------------------------

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** ISO → the value of a datetime-local input (the browser's time zone). */
function localInputValue(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function holdBoxes(): HTMLInputElement[] {
  return [
    ...element<HTMLFormElement>('settings-form').querySelectorAll<HTMLInputElement>('input[name="hold"]'),
  ];
}

function fillSettings(settings: Settings): void {
  const hold = settings.hold ?? DEFAULT_HOLD;
  for (const box of holdBoxes()) box.checked = hold.includes(box.value);
  input('field-email').value = settings.email ?? '';
  input('field-expireAfter').value = settings.expireAfter ?? '';
  element<HTMLSelectElement>('field-onExpire').value = settings.onExpire ?? '';
  element<HTMLTextAreaElement>('field-offlineNotice').value = settings.offlineNotice ?? '';
  input('field-vacation-until').value = settings.vacation ? localInputValue(settings.vacation.until) : '';
  element<HTMLTextAreaElement>('field-vacation-autoReply').value = settings.vacation?.autoReply ?? '';
  input('field-timeZone').value = settings.timeZone ?? '';
}

async function loadSettings(): Promise<void> {
  clearIssues();
  try {
    const { settings } = await api<{ settings: Settings }>('GET', '/v1/me/settings');
    fillSettings(settings);
  } catch (error) {
    element('settings-error').textContent = `Your settings could not be loaded: ${messageOf(error)}`;
  }
}

/** What the form says, as the API's settings object; empty fields are left out (unset). */
function formSettings(): Settings {
  const settings: Settings = {
    hold: holdBoxes()
      .filter((box) => box.checked)
      .map((box) => box.value),
  };
  const text = (id: string) => element<HTMLInputElement | HTMLTextAreaElement>(id).value.trim();
  if (text('field-email')) settings.email = text('field-email');
  if (text('field-expireAfter')) settings.expireAfter = text('field-expireAfter');
  const onExpire = element<HTMLSelectElement>('field-onExpire').value;
  if (onExpire) settings.onExpire = onExpire;
  if (text('field-offlineNotice'))
    settings.offlineNotice = element<HTMLTextAreaElement>('field-offlineNotice').value;
  const until = text('field-vacation-until');
  const autoReply = element<HTMLTextAreaElement>('field-vacation-autoReply').value;
  if (until || autoReply.trim()) {
    const parsed = until ? new Date(until) : undefined;
    settings.vacation = {
      until: parsed && !Number.isNaN(parsed.getTime()) ? parsed.toISOString() : until,
      autoReply: autoReply.trim() ? autoReply : '',
    };
  }
  if (text('field-timeZone')) settings.timeZone = text('field-timeZone');
  return settings;
}

const FIELD_OF: Record<string, string> = {
  email: 'field-email',
  expireAfter: 'field-expireAfter',
  onExpire: 'field-onExpire',
  offlineNotice: 'field-offlineNotice',
  timeZone: 'field-timeZone',
  'vacation.until': 'field-vacation-until',
  'vacation.autoReply': 'field-vacation-autoReply',
};

function clearIssues(): void {
  element('settings-error').textContent = '';
  for (const line of element('settings-form').querySelectorAll('.field-error')) line.textContent = '';
  for (const field of element('settings-form').querySelectorAll('[aria-invalid]')) {
    field.removeAttribute('aria-invalid');
  }
}

/** Each problem next to its field (aria-invalid, the message in its aria-describedby line). */
function showIssues(issues: Issue[]): void {
  let first: HTMLElement | undefined;
  for (const issue of issues) {
    const path = issue.path.startsWith('hold') ? 'hold' : issue.path;
    const line = document.getElementById(`error-${path.replace('.', '-')}`) ?? element('settings-error');
    line.textContent = line.textContent ? `${line.textContent} ${issue.message}` : `${issue.message}`;
    const fieldId = FIELD_OF[path];
    const field = fieldId ? element(fieldId) : path === 'hold' ? holdBoxes()[0] : undefined;
    field?.setAttribute('aria-invalid', 'true');
    first ??= field;
  }
  element('settings-error').textContent ||=
    `Not saved: ${issues.length} field${issues.length === 1 ? '' : 's'} to correct.`;
  first?.focus();
}

async function saveSettings(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  clearIssues();
  try {
    const { settings } = await api<{ settings: Settings }>('PUT', '/v1/me/settings', formSettings());
    fillSettings(settings);
    say('Settings saved.');
  } catch (error) {
    if (isApiError(error) && error.issues.length > 0) showIssues(error.issues);
    else element('settings-error').textContent = `Not saved: ${messageOf(error)}`;
  }
}

// --- admin overview --------------------------------------------------------------------------

function count(list: HTMLElement, term: string, value: string | Node): void {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  if (typeof value === 'string') dd.textContent = value;
  else dd.append(value);
  list.append(dt, dd);
}

async function loadOverview(): Promise<void> {
  const counts = element('overview-counts');
  try {
    const stats = await api<{
      byState: Record<string, number>;
      recipients: number;
      oldestReceivedAt?: string;
    }>('GET', '/v1/stats');
    counts.replaceChildren();
    for (const [state, n] of Object.entries(stats.byState)) {
      count(counts, state === 'dead' ? 'dead letters' : state, String(n));
    }
    count(counts, 'recipients', String(stats.recipients));
    count(counts, 'oldest held', stats.oldestReceivedAt ? when(stats.oldestReceivedAt) : '–');
    if (!('dead' in stats.byState)) {
      // a system whose stats do not count dead letters: ask their list, if it has one
      const dead = await api<{ messages?: unknown[] }>('GET', '/v1/dead?limit=1000').catch(() => undefined);
      if (Array.isArray(dead?.messages)) count(counts, 'dead letters', String(dead.messages.length));
    }
    document.title = 'Overview · Holdover';
  } catch (error) {
    counts.replaceChildren();
    count(counts, 'error', messageOf(error));
  }
  try {
    const { users } = await api<{ users: { aor: string; admin: boolean; updatedAt: string }[] }>(
      'GET',
      '/v1/users?limit=1000',
    );
    const body = element('users-body');
    body.replaceChildren();
    for (const user of users) {
      const row = (element('users-table') as HTMLTableElement).tBodies[0]?.insertRow();
      if (!row) continue;
      cell(row, user.aor);
      cell(row, user.admin ? 'admin' : 'user');
      cell(row, when(user.updatedAt));
    }
  } catch (error) {
    element('find-user-result').textContent = `Users could not be listed: ${messageOf(error)}`;
  }
  await loadAlerts();
}

/** The 20 most recent alerts from email, each member's outcome (text only: mail is anyone's). */
async function loadAlerts(): Promise<void> {
  const summary = element('alerts-summary');
  try {
    const { alerts } = await api<{
      alerts: {
        group: string;
        from: string;
        subject: string;
        receivedAt: string;
        members: { member: string; outcome: string }[];
      }[];
    }>('GET', '/v1/alerts?limit=20');
    const body = element('alerts-body');
    body.replaceChildren();
    for (const alert of alerts) {
      const row = (element('alerts-table') as HTMLTableElement).tBodies[0]?.insertRow();
      if (!row) continue;
      cell(row, when(alert.receivedAt));
      cell(row, alert.group);
      cell(row, alert.from);
      cell(row, alert.subject, 'text');
      cell(row, alert.members.map((member) => `${member.member}: ${member.outcome}`).join('\n'), 'text');
    }
    element('alerts-table').hidden = alerts.length === 0;
    summary.textContent = alerts.length === 0 ? 'No alerts from email yet.' : '';
  } catch (error) {
    summary.textContent = `Alerts could not be listed: ${messageOf(error)}`;
  }
}

async function findUser(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const result = element('find-user-result');
  const typed = input('find-user').value.trim();
  if (!typed) {
    result.textContent = 'Enter an address such as sip:bob@example.com.';
    input('find-user').focus();
    return;
  }
  const aor = typed.startsWith('sip:') ? typed : `sip:${typed}`;
  try {
    const summary = await api<{ aor: string; waiting: number }>(
      'GET',
      `/v1/users/${encodeURIComponent(aor)}/summary`,
    );
    result.textContent = `${summary.aor}: ${summary.waiting} message${summary.waiting === 1 ? '' : 's'} held.`;
  } catch (error) {
    result.textContent = messageOf(error);
  }
}

// --- start -----------------------------------------------------------------------------------

function start(): void {
  element<HTMLFormElement>('sign-in-form').addEventListener('submit', (event) => void signIn(event));
  element<HTMLFormElement>('settings-form').addEventListener('submit', (event) => void saveSettings(event));
  element<HTMLFormElement>('find-user-form').addEventListener('submit', (event) => void findUser(event));
  element('sign-out').addEventListener('click', () => void signOut());
  element('messages-refresh').addEventListener('click', () => void loadMessages());
  window.addEventListener('hashchange', route);
  if (session()) route();
  else show('sign-in');
}

start();
