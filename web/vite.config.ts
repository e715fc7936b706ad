import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The dev server proxies API calls to a running sightline (or Prometheus) so
// `npm run dev` works against real data: SIGHTLINE_URL=http://127.0.0.1:9800 npm run dev
const target = process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:9800';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': target,
      '/loki': target,
      '/-': target,
    },
  },
});
