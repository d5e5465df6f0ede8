// zod for everything the Lambda bundles carry: zod/mini (the same parser and messages as classic
// zod, without the chainable methods and the JSON Schema generator, which make up more than half of
// classic zod's size and of its schema-building time at a cold start; bench/results/cold.md).
// zod/mini loads no locale of its own, so the English messages classic zod prints (and the API
// answers, and the tests read) are set here, once for the process, for every schema of either.
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
