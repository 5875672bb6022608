// The dashboard is served by hydra serve from its web_root: assets under /assets/, index.html for every page path.
// `npx vite` in web/ serves the sources while you edit them, with /api sent on to a running daemon (HYDRA_API).
import { defineConfig } from 'vite';

export default defineConfig({
    base: '/',
    server: {
        proxy: { '/api': { target: process.env.HYDRA_API || 'http://127.0.0.1:8080', changeOrigin: false } },
    },
    build: {
        outDir: process.env.HYDRA_WEB_OUT || 'dist',
        emptyOutDir: true,
        chunkSizeWarningLimit: 300,
        sourcemap: false,
    },
});
