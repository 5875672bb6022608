// What the browser scripts share: Debian's Chromium through playwright-core (from web/node_modules, installed by
// make web), signing in, and failing with one line the C test can show.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

export function fail(message) {
    console.log(`not ok - ${message}`);
    process.exit(1);
}

export function env(name) {
    if (!process.env[name])
        fail(`${name} is not set`);
    return process.env[name];
}

// Headless, with the flags these machines need: no sandbox as root, and nothing that reaches for the network
// (Playwright gives each launch a new empty profile).
export async function launch(shots) {
    mkdirSync(shots, { recursive: true });
    return chromium.launch({
        executablePath: process.env.HYDRA_CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync'],
    });
}

export async function openPage(browser, url, key, viewport = { width: 1280, height: 860 }) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.on('pageerror', error => console.log(`page error: ${error.message}`));
    page.setDefaultTimeout(15000);
    await page.goto(url);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    return page;
}

export async function noOverflow(page, where) {
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth,
                                              document.documentElement.clientWidth]);
    if (widths[0] > widths[1])
        fail(`${where}: the page scrolls sideways at 390 px (${widths[0]} > ${widths[1]})`);
}

// A number the chart of service carries: points (demand points drawn), streamed (points the stream brought).
export async function chartNumber(page, service, name) {
    return page.evaluate(([s, n]) => Number(document.querySelector(`.service-card[data-service="${s}"] .chart-plot`)
        ?.dataset[n] || 0), [service, name]);
}

// Waits until the chart's number reaches at least; false when it does not within seconds.
export async function chartReaches(page, service, name, atLeast, seconds) {
    try {
        await page.waitForFunction(([s, n, a]) => Number(document.querySelector(
            `.service-card[data-service="${s}"] .chart-plot`)?.dataset[n] || 0) >= a, [service, name, atLeast],
                                   { timeout: seconds * 1000 });
        return true;
    } catch {
        return false;
    }
}
