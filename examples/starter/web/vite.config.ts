import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  // `@mizan/client` is linked from a checkout that has React of its own
  // (for its tests): one React for the page, or the hooks break.
  resolve: { dedupe: ["react", "react-dom"] },
  // `npm run dev`: Vite serves the page on its own port and passes the API
  // and the WebSocket (`ws: true`) on to `cargo run` on port 3000.
  server: {
    proxy: {
      "/api/mizan": { target: "http://127.0.0.1:3000", ws: true },
      "/dev": "http://127.0.0.1:3000",
    },
  },
});
