// Svelte compiler options shared by the Vite plugin and svelte-check.
// TypeScript in <script lang="ts"> is handled natively by Svelte 5 (type annotations only).
/** @type {import('@sveltejs/vite-plugin-svelte').SvelteConfig} */
export default {
  compilerOptions: {
    runes: true,
  },
};
