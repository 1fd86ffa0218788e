// Builds the page that `examples/chat/main.rs` embeds (dist/). Output file
// names carry no hash, so main.rs can name them, and the build is
// reproducible: CI rebuilds dist/ and fails on any difference.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to `cargo run --example chat` on this address.
const server = process.env.MIZAN_SERVER ?? "http://127.0.0.1:3000";

export default defineConfig({
  plugins: [react()],
  // `@mizan/client` is a link to client/, which has React of its own (for its
  // tests): one React for the page, or hooks break.
  resolve: { dedupe: ["react", "react-dom"] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rolldownOptions: {
      output: {
        entryFileNames: "assets/[name].js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
  server: {
    proxy: { "/api/mizan": { target: server, ws: true } },
  },
});
