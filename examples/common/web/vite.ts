// The Vite settings of the chat and todo pages; each page's
// vite.config.ts passes its plugins (resolved from its own node_modules)
// and the address of its example for `npm run dev`.
//
// Output file names carry no hash, so main.rs can name them, and the build
// is reproducible: CI rebuilds dist/ and fails on any difference.
import type { PluginOption, UserConfig } from "vite";

export function examplePage(plugins: PluginOption[], devServer: string): UserConfig {
  return {
    plugins,
    // `@mizan/client` is a link to client/, which has React of its own (for
    // its tests): one React for the page, or hooks break.
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
    // `npm run dev` proxies the API (and the socket) to the example.
    server: {
      proxy: { "/api/mizan": { target: process.env.MIZAN_SERVER ?? devServer, ws: true } },
    },
  };
}
