#!/usr/bin/env node
// dist/bundle is tsc's output bundled by scripts/bundle.mjs (`npm run build`): one file per lazily loaded part.
import { main } from '../dist/bundle/main.js';

main(process.argv);
