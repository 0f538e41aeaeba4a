/** The release this code is: the root package.json's version (bundled in by `npm run build`). */
import pkg from '../../../package.json' with { type: 'json' };

export const GATEHOUSE_VERSION: string = pkg.version;
