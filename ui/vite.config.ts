import { defineConfig } from 'vite'

// The Tauri shell loads the built files from dist/ (tauri.conf.json frontendDist).
export default defineConfig({
  clearScreen: false,
  build: { target: 'safari15', outDir: 'dist', emptyOutDir: true },
  test: { environment: 'node' },
} as any)
