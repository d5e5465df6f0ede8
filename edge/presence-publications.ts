// PUBLISH of the `presence` event (RFC 3903): the edge is the event state compositor for
// Holdover's purpose — it keeps each publication (entity-tag, state, lifetime) in memory and
// reports the resulting state to the API. Initial and modifying PUBLISHes carry a PIDF body;
// a refresh carries SIP-If-Match and no body; Expires: 0 removes the publication, after which
// the AOR is online if it still has a live registration, else offline. The API decides that:
// it keeps registration and published state apart (functions/core/presence.ts), and a published
// `online` clears the published state, so the registration it knows — also one from before an
// edge restart — decides. Reporting `offline` instead would leave a published "offline" behind
// that a later REGISTER does not undo.

import { randomBytes } from 'node:crypto';
import type { PresenceReport, PresenceState } from '../shared/contract/presence.ts';
import { realSchedule, type Schedule } from './client-transactions.ts';
import { PidfError, presenceStateOfPidf } from './pidf.ts';
import { getHeader, type ReceivedRequest } from './sip/message.ts';
import { ALLOW_EVENTS, eventPackage, grantedExpiry, refuse, servedAor } from './sip-replies.ts';
import type { SipReply } from './sip-server.ts';

export const PIDF_TYPE = 'application/pidf+xml';

interface Publication {
  etag: string;
  aor: string;
  state: PresenceState;
  /** Order of the last change: the newest live publication of an AOR is its published state. */
  order: number;
  cancelExpiry: () => void;
}

export interface PresencePublicationsOptions {
  domains: readonly string[];
  report: (report: PresenceReport) => void;
  /** Shortest lifetime granted (SIP_MIN_EXPIRES, default 60 s). */
  minExpiresSeconds?: number;
  schedule?: Schedule;
  newEtag?: () => string;
}

export class PresencePublications {
  private readonly publications = new Map<string, Publication>();
  private readonly options: PresencePublicationsOptions;
  private readonly schedule: Schedule;
  private readonly newEtag: () => string;
  private order = 0;

  constructor(options: PresencePublicationsOptions) {
    this.options = options;
    this.schedule = options.schedule ?? realSchedule;
    this.newEtag = options.newEtag ?? (() => randomBytes(9).toString('base64url'));
  }

  publish(request: ReceivedRequest): SipReply {
    if (eventPackage(request) !== 'presence') {
      return refuse(489, 'Bad Event', 'only the presence event can be published here', [ALLOW_EVENTS]);
    }
    const target = servedAor(request, this.options.domains);
    if ('refusal' in target) return target.refusal;
    const { aor } = target;
    const granted = grantedExpiry(undefined, getHeader(request, 'expires'), this.options.minExpiresSeconds);
    if ('refusal' in granted) return granted.refusal;

    const ifMatch = getHeader(request, 'sip-if-match')?.trim();
    const existing = ifMatch === undefined ? undefined : this.publications.get(ifMatch);
    if (ifMatch !== undefined && (existing === undefined || existing.aor !== aor)) {
      return { status: 412, reason: 'Conditional Request Failed' };
    }
    if (granted.seconds === 0) {
      if (!existing)
        return refuse(400, 'Bad Request', 'Expires: 0 removes a publication named by SIP-If-Match');
      this.remove(existing);
      return { status: 200, reason: 'OK', headers: [{ name: 'expires', value: '0' }] };
    }

    let state: PresenceState;
    if (request.body.length === 0) {
      if (!existing) return refuse(400, 'Bad Request', 'a PUBLISH without SIP-If-Match needs a PIDF body');
      state = existing.state; // a refresh keeps the state
    } else {
      const contentType = getHeader(request, 'content-type')?.split(';')[0]?.trim().toLowerCase();
      if (contentType !== PIDF_TYPE) {
        return refuse(415, 'Unsupported Media Type', `presence must be ${PIDF_TYPE}`, [
          { name: 'accept', value: PIDF_TYPE },
        ]);
      }
      try {
        state = presenceStateOfPidf(request.body.toString('utf8'));
      } catch (error) {
        if (error instanceof PidfError) return refuse(400, 'Bad Request', error.message);
        throw error;
      }
    }

    if (existing) {
      existing.cancelExpiry();
      this.publications.delete(existing.etag);
    }
    // A refresh (no body) changes only the lifetime: nothing to report.
    const changed = existing === undefined || request.body.length > 0;
    const publication: Publication = {
      etag: this.newEtag(),
      aor,
      state,
      order: existing && request.body.length === 0 ? existing.order : ++this.order,
      cancelExpiry: () => {},
    };
    publication.cancelExpiry = this.schedule(() => this.lapse(publication), granted.seconds * 1000);
    this.publications.set(publication.etag, publication);
    if (changed) this.options.report({ aor, state, source: 'publish' });
    return {
      status: 200,
      reason: 'OK',
      headers: [
        { name: 'sip-etag', value: publication.etag },
        { name: 'expires', value: String(granted.seconds) },
      ],
    };
  }

  /** Cancels every expiry timer (a clean stop). */
  close(): void {
    for (const publication of this.publications.values()) publication.cancelExpiry();
    this.publications.clear();
  }

  private lapse(publication: Publication): void {
    if (this.publications.get(publication.etag) === publication) this.remove(publication);
  }

  private remove(publication: Publication): void {
    publication.cancelExpiry();
    this.publications.delete(publication.etag);
    this.options.report({
      aor: publication.aor,
      state: this.fallbackState(publication.aor),
      source: 'publish',
    });
  }

  /** Another live publication's state, else `online`: no published state, the registration decides. */
  private fallbackState(aor: string): PresenceState {
    let newest: Publication | undefined;
    for (const publication of this.publications.values()) {
      if (publication.aor === aor && (newest === undefined || publication.order > newest.order))
        newest = publication;
    }
    return newest?.state ?? 'online';
  }
}
