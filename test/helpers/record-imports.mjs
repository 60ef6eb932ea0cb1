// `node --import ./test/helpers/record-imports.mjs ...`: appends every bare package specifier the
// process imports (ESM resolution, tsx's output included) to the file named by MPE_RECORD_IMPORTS.
// Used by test/cli/lazy-imports.test.ts to show that a command loads only what it runs.
import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url);
