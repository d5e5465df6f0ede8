// The NOTIFY of a message-summary subscription (RFC 3842, body per RFC 3458): what it says and how
// it is addressed within the subscription's dialog (edge/mwi/subscriptions.ts keeps the dialogs).
import type { SipTarget } from '../../shared/sip/uri.ts';
import { buildOutgoingRequest, contactOf, type LocalSipAddress } from '../outgoing-request.ts';
import type { SipHeader, SipRequest } from '../sip/message.ts';

export const SUMMARY_TYPE = 'application/simple-message-summary';
export const SUMMARY_EVENT = 'message-summary';

/** The RFC 3458 / RFC 3842 body: IMs held for the account are "Text-Message: new/old". */
export function messageSummaryBody(account: string, waiting: number): Buffer {
  return Buffer.from(
    `Messages-Waiting: ${waiting > 0 ? 'yes' : 'no'}\r\nMessage-Account: ${account}\r\nText-Message: ${waiting}/0\r\n`,
  );
}

/** The dialog a subscription created (RFC 6665 §4.1.2.2, RFC 3261 §12.1.1 from the UAS side). */
export interface SubscriptionDialog {
  callId: string;
  /** NOTIFY From: the SUBSCRIBE's To with our tag. */
  local: string;
  /** NOTIFY To: the SUBSCRIBE's From, with the subscriber's tag. */
  remote: string;
  /** NOTIFY Request-URI: the subscriber's Contact. */
  remoteTarget: string;
  /** Route headers: the SUBSCRIBE's Record-Route, in order. */
  routeSet: readonly string[];
  /** The Event header's id parameter, echoed in each NOTIFY. */
  eventId?: string;
}

export interface NotifySpec {
  dialog: SubscriptionDialog;
  cseq: number;
  /** `active;expires=N` or `terminated;reason=timeout`. */
  subscriptionState: string;
  /** The summary; undefined when the count could not be read (a NOTIFY without body). */
  body?: Buffer;
  local: LocalSipAddress;
  target: SipTarget;
  branch: string;
}

export function buildNotify(spec: NotifySpec): SipRequest {
  const { dialog } = spec;
  const headers: SipHeader[] = [
    ...dialog.routeSet.map((route) => ({ name: 'route', value: route })),
    { name: 'contact', value: contactOf(spec.local, spec.target.transport) },
    { name: 'event', value: dialog.eventId ? `${SUMMARY_EVENT};id=${dialog.eventId}` : SUMMARY_EVENT },
    { name: 'subscription-state', value: spec.subscriptionState },
    ...(spec.body ? [{ name: 'content-type', value: SUMMARY_TYPE }] : []),
  ];
  return buildOutgoingRequest({
    method: 'NOTIFY',
    requestUri: dialog.remoteTarget,
    target: spec.target,
    local: spec.local,
    branch: spec.branch,
    from: dialog.local,
    to: dialog.remote,
    callId: dialog.callId,
    cseq: spec.cseq,
    headers,
    ...(spec.body ? { body: spec.body } : {}),
  });
}
