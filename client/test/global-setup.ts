// Starts one fixture server for the whole run; tests read its URL with
// `inject("fixtureUrl")`. Tests that stop or restart a server start their own.

import type { TestProject } from "vitest/node";
import { startFixture } from "./fixture.js";

declare module "vitest" {
  export interface ProvidedContext {
    fixtureUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fixture = await startFixture(0);
  project.provide("fixtureUrl", fixture.url);
  return async () => {
    await fixture.stop("SIGTERM");
  };
}
