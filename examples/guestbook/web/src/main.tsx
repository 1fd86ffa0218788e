import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.js";
import { MizanProvider } from "./generated/hooks.js";
import "./styles.css";

// The page is served by the server it talks to: `/api/mizan` on the same
// origin (`npm run dev` proxies it to `cargo run --example guestbook`).
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <MizanProvider url="/api/mizan">
      <App />
    </MizanProvider>
  </StrictMode>,
);
