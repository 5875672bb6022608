// The dashboard is served by hydra serve from its web_root: assets under /assets/, index.html for every page path.
import { defineConfig } from 'vite';

export default defineConfig({
    base: '/',
    build: {
        outDir: process.env.HYDRA_WEB_OUT || 'dist',
        emptyOutDir: true,
        chunkSizeWarningLimit: 300,
        sourcemap: false,
    },
});
