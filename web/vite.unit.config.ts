import { readdirSync } from 'node:fs';
import { defineConfig } from 'vite';

// Bundles unit/*.test.ts for Node so `node --test` can run them without a
// TypeScript loader (Node 20 cannot strip types).
const tests = readdirSync('unit').filter((f) => f.endsWith('.test.ts'));

export default defineConfig({
  logLevel: 'warn',
  build: {
    outDir: '.unit',
    emptyOutDir: true,
    ssr: true,
    target: 'node20',
    minify: false,
    rollupOptions: {
      input: Object.fromEntries(tests.map((f) => [f.replace(/\.ts$/, ''), `unit/${f}`])),
      output: { format: 'es', entryFileNames: '[name].mjs' },
    },
  },
});
