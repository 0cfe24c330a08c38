// The operator portal's browser tests: Debian's Chromium driven by playwright-core. Where it is missing the
// tests skip with a warning, unless REQUIRE_BROWSER_TESTS=1 (CI), which makes that an error.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether Chromium is there to drive (checked once, when a browser test file loads this). */
export const browserAvailable = existsSync(executablePath);
if (!browserAvailable) {
  const message = `${executablePath} not found: the browser tests of the operator portal need Chromium (apt-get install -y chromium, or CHROMIUM_PATH)`;
  if (process.env.REQUIRE_BROWSER_TESTS === '1') throw new Error(message);
  console.warn(`SKIPPED: ${message}`);
}

/** Headless Chromium, quiet: no GPU, no background traffic to any outside host. */
export const launchBrowser = (): Promise<Browser> =>
  chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });

/** A page renders on its own time on a loaded machine: a poll waits for it up to 15 s, not vitest's 1 s. */
export const POLL = { timeout: 15_000 };
