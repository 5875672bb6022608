// The dashboard in headless Chromium (Debian's, driven by playwright-core), against a real hydra serve that
// tests/test_dashboard.c started. It is the test's traffic source too: one sample a second per service through the
// ingest API, and a surge when it wants a recommendation.
//
// Environment: HYDRA_URL, HYDRA_ADMIN_KEY (ingest, read, approve), HYDRA_READER_KEY (read), HYDRA_SCREENSHOTS (a
// folder), HYDRA_SERVICE (the service to surge), HYDRA_REVOKED_KEY and HYDRA_REVOKE (a key, the command that revokes
// it). Prints one line per step ("ok - ...", plus "approved ID",
// "rejected ID", "readonly ID 403" for the C test to check in the store); exits 1 at the first failure.

import { execSync } from 'node:child_process';
import path from 'node:path';

import { chartNumber, chartReaches, env, fail, launch, noOverflow, openPage } from './common.mjs';

const url = env('HYDRA_URL'), adminKey = env('HYDRA_ADMIN_KEY'), readerKey = env('HYDRA_READER_KEY');
const shots = env('HYDRA_SCREENSHOTS'), service = env('HYDRA_SERVICE');
const services = (process.env.HYDRA_FEED_SERVICES || service).split(',');

// ## The traffic source ---------------------------------------------------------------------------------------------

let level = 300;
let feeding = true;

async function ingest(samples) {
    const response = await fetch(`${url}/api/v1/ingest/metrics`, {
        method: 'POST', body: JSON.stringify(samples),
        headers: { Authorization: `Bearer ${adminKey}`, 'Content-Type': 'application/json' },
    });
    if (!response.ok)
        fail(`ingest answered ${response.status}: ${await response.text()}`);
}

// A sample measures the second that ends at its time: sent as that second begins, it is there when the tick ends it.
function sample(name, at, value) {
    return { service: name, ts: at, value };
}

async function feed() {
    while (feeding) {
        const at = Math.floor(Date.now() / 1000) + 1;
        const wave = 40 * Math.sin((2 * Math.PI * at) / 60) + 10 * Math.sin(at * 7.3);
        await ingest(services.map(name => sample(name, at, (name === service ? level : 300) + wave)));
        await new Promise(resolve => setTimeout(resolve, at * 1000 - Date.now() + 50));
    }
}

// Holds the service at load until the page shows a new pending card for it; its id.
async function surge(page, load, known) {
    level = load;
    try {
        const card = page.locator(`.rec-card[data-state="pending"]`).filter({ hasText: service });
        await page.waitForFunction(ids => [...document.querySelectorAll('.rec-card[data-state="pending"]')]
            .some(c => !ids.includes(c.dataset.id)), known, { timeout: 20000 });
        const ids = await card.evaluateAll(cards => cards.map(c => c.dataset.id));
        return ids.find(id => !known.includes(id));
    } catch (error) {
        fail(`a surge to ${load} req/s showed no new card in the Action Center: ${error.message}`);
    } finally {
        level = 300;
    }
    return '';
}

// ## Pages ----------------------------------------------------------------------------------------------------------

async function signInChecks(browser) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.getByLabel('API key').waitFor();
    if (await page.locator('nav, .service-card, .rec-card').count() !== 0)
        fail('the page shows something before signing in');
    await page.getByLabel('API key').fill('hydra_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await page.getByLabel('API key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    const stored = await page.evaluate(() => sessionStorage.getItem('hydra.key'));
    if (stored !== adminKey)
        fail('the key is not kept in sessionStorage');
    await page.reload();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    if (await page.evaluate(() => sessionStorage.getItem('hydra.key')) !== null)
        fail('signing out left the key in sessionStorage');
    await context.close();
    console.log('ok - sign-in: a bad key is refused, nothing shows before, the tab keeps the key, sign-out forgets it');
}

async function livePoints(page) {
    // First the stored history (the test sent minutes of it), then points that only the stream brings.
    const chart = page.locator(`.service-card[data-service="${service}"] .chart-plot`);
    if (!await chartReaches(page, service, 'points', 60, 15))
        fail(`the chart shows ${await chartNumber(page, service, 'points')} points of history`);
    const navigations = await page.evaluate(() => performance.getEntriesByType('navigation').length);
    const first = await chartNumber(page, service, 'points');
    const streamed = await chartNumber(page, service, 'streamed');
    if (!await chartReaches(page, service, 'points', first + 3, 15))
        fail(`the chart did not grow: ${first} points, then ${await chartNumber(page, service, 'points')}`);
    const later = await chartNumber(page, service, 'points');
    if (await page.evaluate(() => performance.getEntriesByType('navigation').length) !== navigations)
        fail('the page reloaded');
    const forecast = Number(await chart.getAttribute('data-forecast-points'));
    if (!(forecast > 0))
        fail('the chart shows no forecast');
    console.log(`ok - live points arrive without a reload: ${first} -> ${later} drawn ` +
                `(${await chartNumber(page, service, 'streamed') - streamed} from the stream); ${forecast} forecast steps`);
}

async function phoneWidth(browser) {
    const page = await openPage(browser, url, adminKey, { width: 390, height: 844 });
    await page.locator('.service-card .chart-plot canvas').first().waitFor();
    await noOverflow(page, 'overview');
    await page.screenshot({ path: path.join(shots, 'overview-phone.png') });
    for (const [link, ready] of [['Action Center', 'h1'], ['Alerts', 'h1'], ['Audit log', 'h1'],
                                 ['Reports', 'h1']]) {
        await page.getByRole('link', { name: link }).click();
        await page.locator(ready).filter({ hasText: link }).waitFor();
        await page.waitForTimeout(300);
        await noOverflow(page, link);
    }
    if (await page.locator('.rec-card').count() > 0)
        await page.getByRole('link', { name: 'Action Center' }).click();
    await page.goto(`${url}/services/${encodeURIComponent(service)}`);
    await page.locator('.service-page canvas').first().waitFor();
    await page.waitForTimeout(500);
    await noOverflow(page, `services/${service}`);
    await page.context().close();
    console.log('ok - phone width 390x844: no page scrolls sideways (overview, Action Center, alerts, audit, ' +
                'reports, service)');
}

// The key is revoked (hydra keys revoke) while its page is open: the daemon ends the stream, the page signs out.
async function revokedWhileOpen(browser) {
    const page = await openPage(browser, url, env('HYDRA_REVOKED_KEY'));
    await page.locator('.connection[data-state="live"]').waitFor();
    execSync(env('HYDRA_REVOKE'), { stdio: 'pipe' });
    const started = Date.now();
    try {
        await page.getByLabel('API key').waitFor({ timeout: 20000 });
    } catch {
        fail('the page of a revoked key stays signed in');
    }
    const message = await page.getByRole('alert').innerText();
    if (await page.evaluate(() => sessionStorage.getItem('hydra.key')) !== null)
        fail('the revoked key stays in sessionStorage');
    await page.context().close();
    console.log(`ok - a key revoked while its page is open signs the page out in ` +
                `${((Date.now() - started) / 1000).toFixed(1)} s: "${message}"`);
}

async function main() {
    const started = Date.now();
    const browser = await launch(shots);
    const feeder = feed();
    await signInChecks(browser);

    const page = await openPage(browser, url, adminKey);
    await livePoints(page);
    await page.getByRole('link', { name: 'Action Center' }).click();
    await page.getByRole('heading', { name: 'Action Center' }).waitFor();
    const known = await page.locator('.rec-card').evaluateAll(cards => cards.map(c => c.dataset.id));

    // A surge: a card asks; a read-only key sees it without buttons, and the API refuses it the decision.
    const first = await surge(page, 2200, known);
    const card = page.locator(`.rec-card[data-id="${first}"]`);
    const text = await card.innerText();
    for (const words of [`Scale ${service} from`, 'Asked because', 'Expires in'])
        if (!text.includes(words))
            fail(`the card lacks "${words}": ${text}`);
    console.log(`ok - a surge produced card ${first}: ${text.split('\n').slice(0, 2).join(' | ')}`);
    await page.screenshot({ path: path.join(shots, 'action-center.png') });

    const reader = await openPage(browser, url, readerKey);
    await reader.getByRole('link', { name: 'Action Center' }).click();
    await reader.locator(`.rec-card[data-id="${first}"]`).waitFor();
    const buttons = await reader.locator(`.rec-card[data-id="${first}"]`).getByRole('button').count();
    if (buttons !== 0 || await reader.getByRole('button', { name: 'Approve' }).count() !== 0)
        fail('a read-only key sees decision buttons');
    const refused = await reader.evaluate(async ([id, key]) => (await fetch(`/api/v1/recommendations/${id}/approve`, {
        method: 'POST', headers: { Authorization: `Bearer ${key}` } })).status, [first, readerKey]);
    if (refused !== 403)
        fail(`the API answered ${refused} to a read-only approval`);
    console.log(`readonly ${first} ${refused}`);
    console.log('ok - a read-only key sees the card without Approve or Reject, and the API refuses it (403)');
    await reader.context().close();

    // Approve: the toast says it was executed.
    await card.getByRole('button', { name: 'Approve' }).click();
    try {
        await page.locator('.toast[data-kind="success"]').filter({ hasText: 'Executed' }).waitFor({ timeout: 15000 });
    } catch {
        fail(`no "Executed" toast after approving ${first}`);
    }
    console.log(`approved ${first}`);
    console.log('ok - Approve: the toast says it was executed');

    // Reject with a reason, on a larger surge.
    const afterFirst = await page.locator('.rec-card').evaluateAll(cards => cards.map(c => c.dataset.id));
    const second = await surge(page, 6000, [...known, first, ...afterFirst]);
    const secondCard = page.locator(`.rec-card[data-id="${second}"]`);
    await secondCard.getByRole('button', { name: 'Reject…' }).click();
    const reason = 'a load test of the payment provider, not real demand';
    await secondCard.getByLabel('Why reject it?').fill(reason);
    await secondCard.getByRole('button', { name: 'Reject', exact: true }).click();
    await page.locator(`.decision[data-id="${second}"][data-state="rejected"]`).waitFor();
    console.log(`rejected ${second}`);
    console.log('ok - Reject with a reason: the card leaves and the decision is listed');

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.locator(`tr[data-action="reject"][data-subject="${second}"]`).waitFor();
    console.log('ok - the audit log lists the rejection');

    await page.getByRole('link', { name: 'Overview' }).click();
    await page.locator('.service-card .chart-plot canvas').first().waitFor();
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(shots, 'overview.png') });
    await page.goto(`${url}/services/${encodeURIComponent(service)}`);
    await page.locator('.service-page canvas').first().waitFor();
    await page.locator(`.service-page tr[data-id="${first}"]`).waitFor();
    console.log('ok - the service page lists its recommendations');

    await phoneWidth(browser);
    await revokedWhileOpen(browser);
    feeding = false;
    await feeder;
    await browser.close();
    console.log(`ok - done in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${shots}`);
}

main().catch(error => fail(error.stack || error.message));
