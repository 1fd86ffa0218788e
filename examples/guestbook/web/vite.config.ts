// Builds the page that `examples/guestbook/main.rs` embeds (dist/); the
// settings are shared with the other example page.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { examplePage } from "../../common/web/vite.js";

// `npm run dev` proxies the API to `cargo run --example guestbook` here.
export default defineConfig(examplePage([react()], "http://127.0.0.1:3002"));
