// Registrar-lite (RFC 3261 §10.3, the subset Holdover needs): a REGISTER — from the UA itself,
// or a proxy's third-party copy — binds contacts to an address-of-record for a while. Bindings
// live in memory only; what matters is what the API is told: online (with the latest contact)
// while a binding lives, offline once the last one is removed or lapses.

import type { PresenceReport } from '../shared/contract/presence.ts';
import { realSchedule, type Schedule } from './client-transactions.ts';
import { getHeader, type ReceivedRequest, type SipHeader } from './sip/message.ts';
import { grantedExpiry, refuse, servedAor } from './sip-replies.ts';
import type { SipReply } from './sip-server.ts';

/** One Contact of a REGISTER with the lifetime granted to it (0: remove it). */
export interface RequestedBinding {
  contact: string;
  seconds: number;
}

export type RegisterIntent =
  /** `Contact: *` with `Expires: 0`: remove every binding of the AOR. */
  | { kind: 'remove-all' }
  /** No Contact: the UA asks which bindings exist. */
  | { kind: 'fetch' }
  | { kind: 'update'; bindings: RequestedBinding[] }
  | { kind: 'refused'; reply: SipReply };

/**
 * What a REGISTER asks for (RFC 3261 §10.3 steps 6–7): each Contact's lifetime comes from its
 * `expires` parameter, else the Expires header, else 3600; capped at 3600; 1–59 → 423.
 */
export function registerIntent(request: ReceivedRequest, minExpiresSeconds?: number): RegisterIntent {
  const { contacts } = request;
  const expiresHeader = getHeader(request, 'expires');
  if (request.contactWildcard) {
    if (expiresHeader?.trim() !== '0') {
      return { kind: 'refused', reply: refuse(400, 'Bad Request', 'Contact: * needs Expires: 0') };
    }
    return { kind: 'remove-all' };
  }
  if (contacts.length === 0) return { kind: 'fetch' };
  const bindings: RequestedBinding[] = [];
  for (const contact of contacts) {
    const granted = grantedExpiry(contact.params.expires, expiresHeader, minExpiresSeconds);
    if ('refusal' in granted) return { kind: 'refused', reply: granted.refusal };
    bindings.push({ contact: contact.uri, seconds: granted.seconds });
  }
  return { kind: 'update', bindings };
}

interface Binding {
  contact: string;
  expiresAt: number;
  /** Order of the last refresh: the newest binding is the contact reported to the API. */
  order: number;
  cancelExpiry: () => void;
}

export interface RegistrarOptions {
  domains: readonly string[];
  report: (report: PresenceReport) => void;
  /** Shortest lifetime granted (SIP_MIN_EXPIRES, default 60 s); shorter requests get 423. */
  minExpiresSeconds?: number;
  now?: () => number;
  schedule?: Schedule;
}

export class Registrar {
  private readonly bindings = new Map<string, Map<string, Binding>>();
  private readonly domains: readonly string[];
  private readonly report: (report: PresenceReport) => void;
  private readonly now: () => number;
  private readonly schedule: Schedule;
  private readonly minExpiresSeconds: number | undefined;
  private order = 0;

  constructor(options: RegistrarOptions) {
    this.domains = options.domains;
    this.minExpiresSeconds = options.minExpiresSeconds;
    this.report = options.report;
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? realSchedule;
  }

  /** Whether the AOR has a live binding (a PUBLISH removal falls back to online then). */
  isRegistered(aor: string): boolean {
    return (this.bindings.get(aor)?.size ?? 0) > 0;
  }

  /** Answers a REGISTER and reports the resulting presence (without waiting for the API). */
  register(request: ReceivedRequest): SipReply {
    const target = servedAor(request, this.domains);
    if ('refusal' in target) return target.refusal;
    const { aor } = target;
    const intent = registerIntent(request, this.minExpiresSeconds);
    switch (intent.kind) {
      case 'refused':
        return intent.reply;
      case 'fetch':
        return this.ok(aor);
      case 'remove-all':
        for (const binding of this.bindings.get(aor)?.values() ?? []) binding.cancelExpiry();
        this.bindings.delete(aor);
        this.reportState(aor);
        return this.ok(aor);
      case 'update':
        for (const requested of intent.bindings) this.apply(aor, requested);
        this.reportState(aor);
        return this.ok(aor);
    }
  }

  /** Cancels every expiry timer (a clean stop); the bindings are forgotten. */
  close(): void {
    for (const contacts of this.bindings.values()) {
      for (const binding of contacts.values()) binding.cancelExpiry();
    }
    this.bindings.clear();
  }

  private apply(aor: string, requested: RequestedBinding): void {
    const contacts = this.bindings.get(aor) ?? new Map<string, Binding>();
    contacts.get(requested.contact)?.cancelExpiry();
    if (requested.seconds === 0) {
      contacts.delete(requested.contact);
    } else {
      const binding: Binding = {
        contact: requested.contact,
        expiresAt: this.now() + requested.seconds * 1000,
        order: ++this.order,
        cancelExpiry: () => {},
      };
      binding.cancelExpiry = this.schedule(() => this.lapse(aor, binding), requested.seconds * 1000);
      contacts.set(requested.contact, binding);
    }
    if (contacts.size > 0) this.bindings.set(aor, contacts);
    else this.bindings.delete(aor);
  }

  private lapse(aor: string, binding: Binding): void {
    const contacts = this.bindings.get(aor);
    if (contacts?.get(binding.contact) !== binding) return;
    contacts.delete(binding.contact);
    if (contacts.size === 0) this.bindings.delete(aor);
    this.reportState(aor);
  }

  private reportState(aor: string): void {
    const newest = this.newest(aor);
    if (newest === undefined) {
      this.report({ aor, state: 'offline', source: 'register' });
      return;
    }
    this.report({
      aor,
      state: 'online',
      contact: newest.contact,
      expires: this.remainingSeconds(newest),
      source: 'register',
    });
  }

  private newest(aor: string): Binding | undefined {
    let newest: Binding | undefined;
    for (const binding of this.bindings.get(aor)?.values() ?? []) {
      if (newest === undefined || binding.order > newest.order) newest = binding;
    }
    return newest;
  }

  private remainingSeconds(binding: Binding): number {
    return Math.max(0, Math.ceil((binding.expiresAt - this.now()) / 1000));
  }

  /** 200 OK listing every current binding with its remaining lifetime, and a Date (§10.3 step 8). */
  private ok(aor: string): SipReply {
    const headers: SipHeader[] = [];
    for (const binding of this.bindings.get(aor)?.values() ?? []) {
      headers.push({
        name: 'contact',
        value: `<${binding.contact}>;expires=${this.remainingSeconds(binding)}`,
      });
    }
    headers.push({ name: 'date', value: new Date(this.now()).toUTCString() });
    return { status: 200, reason: 'OK', headers };
  }
}
