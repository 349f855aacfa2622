#!/usr/bin/env node
// The `mimic` command: runs the TypeScript CLI through tsx's loader (no build step for the TS sources).
import { register } from 'tsx/esm/api';

register();
await import('../lib/cli.ts');
