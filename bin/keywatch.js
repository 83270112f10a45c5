#!/usr/bin/env node
// Entry for the installed package: the compiled CLI (npm run build writes dist/).
import '../dist/src/main.js';
