/** Error codes of the web console's serving. */
import { AppError } from '@gatehouse/platform';

export const consoleErrors = {
  /** the gateway runs without the console's files (e.g. an image built without `console/`) */
  unavailable: () =>
    new AppError('console_unavailable', 503, {
      detail: 'The web console is not installed next to this gateway (console/index.html was not found). The API, /docs and /openapi.json work.',
    }),
};
