import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // The generated fixture code (codegen/tests/snapshots/fixture) imports the
    // runtime and zod by package name, from outside this package.
    alias: [
      { find: /^@mizan\/client\/react$/, replacement: here("./src/react/index.ts") },
      { find: /^@mizan\/client$/, replacement: here("./src/index.ts") },
      { find: /^zod$/, replacement: here("./node_modules/zod/index.js") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    environment: "node",
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
