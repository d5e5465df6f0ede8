// Where the count of a message-summary NOTIFY comes from: the API's signed
// `GET /v1/users/{aor}/summary`, read with the contract's schema.
import { SummarySchema } from '../../shared/contract/views.ts';

export interface SummaryApi {
  get(path: string): Promise<{ status: number; body: unknown }>;
}

/** Reads how many messages the API holds for `aor`; throws when it cannot tell. */
export function summaryFromApi(api: SummaryApi): (aor: string) => Promise<number> {
  return async (aor) => {
    const answer = await api.get(`/v1/users/${encodeURIComponent(aor)}/summary`);
    if (answer.status !== 200) throw new Error(`summary answered ${answer.status}`);
    const parsed = SummarySchema.safeParse(answer.body);
    if (!parsed.success) throw new Error('summary answer is not { aor, waiting }');
    return parsed.data.waiting;
  };
}
