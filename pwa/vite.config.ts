import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

// The Rust server (`fangzha serve`) listens here in development (FANGZHA_SERVER overrides it,
// e.g. for the end-to-end test against `vite preview`); it also serves pwa/dist in production,
// so the app always talks to its own origin.
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SERVER = env.FANGZHA_SERVER ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [
    svelte(),
    VitePWA({
      // A new service worker waits until the user taps the update prompt (see src/lib/pwa.ts:
      // canOfferUpdate decides when the prompt may be shown).
      registerType: 'prompt',
      strategies: 'generateSW',
      filename: 'sw.js',
      manifestFilename: 'manifest.webmanifest',
      injectRegister: false, // src/lib/pwa.ts registers it through virtual:pwa-register
      // workbox.globPatterns below already precaches every icon; listing them again here
      // would only duplicate precache entries.
      includeManifestIcons: false,
      manifest: {
        id: '/',
        lang: 'zh-CN',
        dir: 'ltr',
        name: '防诈工作台',
        short_name: '防诈',
        description: '防范电信网络诈骗 — 镇、村(居)、网格工作台，离线可用',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        orientation: 'portrait',
        theme_color: '#b71c1c',
        background_color: '#ffffff',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          {
            src: '/icons/icon-512-maskable.png',
            sizes: '512x512',
            type: 'image/png',
            purpose: 'maskable',
          },
        ],
      },
      workbox: {
        // The shell: everything the build emits; data never goes through the precache.
        globPatterns: ['**/*.{html,js,css,png,svg,ico,webmanifest}'],
        navigateFallback: 'index.html',
        // Server routes must reach the network, never get the app shell as an answer.
        navigateFallbackDenylist: [/^\/api(\/|$)/, /^\/healthz(\/|$|\?)/, /^\/metrics(\/|$|\?)/],
        cleanupOutdatedCaches: true,
        // No runtimeCaching: API answers are not cached by the service worker.
      },
    }),
  ],
  server: {
    proxy: {
      '/api': SERVER,
      '/healthz': SERVER,
    },
  },
  preview: {
    proxy: {
      '/api': SERVER,
      '/healthz': SERVER,
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
  },
});
