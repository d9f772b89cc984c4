import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The console is served from the app bundle, never from a dev server in tests.
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
