// The story in headless Chromium, against `hydra serve --scenario ramadan.lua --speed N` that tests/test_dashboard.c
// started: points arrive from the scenario, Suhoor and Iftar are shaded, hydra predicts the Suhoor surge and asks,
// a person approves, the toast says it was executed; the reports are viewable; screenshots for the README.
//
// Environment: HYDRA_URL, HYDRA_ADMIN_KEY (read, approve), HYDRA_SCREENSHOTS, HYDRA_SERVICE. Prints "ok - ..."
// lines and "approved ID" for the C test to check in the store; exits 1 at the first failure.

import path from 'node:path';

import { chartNumber, chartReaches, env, fail, launch, noOverflow, openPage } from './common.mjs';

const url = env('HYDRA_URL'), key = env('HYDRA_ADMIN_KEY'), shots = env('HYDRA_SCREENSHOTS');
const service = env('HYDRA_SERVICE');
const SURGE_SECONDS = 90;

async function liveChart(page) {
    if (!await chartReaches(page, service, 'points', 100, 20))
        fail(`the live demo's chart shows ${await chartNumber(page, service, 'points')} points of history`);
    const clock = Number(await page.locator('.clock').getAttribute('data-now'));
    const first = await chartNumber(page, service, 'streamed');
    if (!await chartReaches(page, service, 'streamed', first + 5, 15))
        fail(`no points arrive from the scenario: ${first}, then ${await chartNumber(page, service, 'streamed')}`);
    if (!await chartReaches(page, service, 'bands', 1, 30))
        fail('the chart shades no Suhoor or Iftar band');
    const later = await chartNumber(page, service, 'streamed');
    const advanced = Number(await page.locator('.clock').getAttribute('data-now')) - clock;
    console.log(`ok - live demo: points arrive from the scenario (${first} -> ${later} streamed, ` +
                `${await chartNumber(page, service, 'points')} drawn) as the virtual clock runs ` +
                `(${Math.round(advanced / 60)} simulated minutes); prayer-time bands are shaded`);
}

// The first pending card of the service whose headline names Suhoor.
function suhoorCard(page) {
    return page.locator('.rec-card[data-state="pending"]')
        .filter({ hasText: 'Predicted Suhoor surge' }).filter({ hasText: `Scale ${service} from` }).first();
}

// A card of a rising surge is replaced when demand outgrows it, so a click can come a moment late (409, a toast
// says so): a person then approves the new card, and so does this.
async function approveSuhoorSurge(page) {
    for (let attempt = 0; attempt < 10; attempt++) {
        const card = suhoorCard(page);
        await card.waitFor({ timeout: SURGE_SECONDS * 1000 });
        const id = await card.getAttribute('data-id');
        if (attempt === 0) {
            const summary = await card.locator('.rec-summary').innerText();
            console.log(`ok - the Suhoor surge is asked about: Predicted Suhoor surge: ${summary}`);
            await page.screenshot({ path: path.join(shots, 'live-action-center.png') });
        }
        await card.getByRole('button', { name: 'Approve' }).click();
        const outcome = await Promise.race([
            page.locator('.toast[data-kind="success"]').filter({ hasText: `Executed — ${service}` }).waitFor()
                .then(() => 'executed'),
            page.locator('.toast[data-kind="error"]').filter({ hasText: 'Could not approve' }).waitFor()
                .then(() => 'late'),
        ]).catch(() => 'nothing');
        if (outcome === 'executed') {
            console.log(`approved ${id}`);
            console.log(`ok - Approve on the Suhoor card: executed (the toast says so), after ${attempt} late clicks`);
            return;
        }
        if (outcome === 'nothing')
            fail(`approving ${id} brought neither an "Executed" toast nor an error`);
        await page.evaluate(() => document.querySelectorAll('.toast-close').forEach(button => button.click()));
    }
    fail('every Suhoor card was replaced before its approval landed');
}

async function reports(page) {
    await page.getByRole('link', { name: 'Reports' }).click();
    const items = page.locator('.report-list li');
    await items.first().waitFor();
    const names = await items.locator('a').allInnerTexts();
    for (const name of names) {
        await page.getByRole('link', { name, exact: true }).click();
        await page.locator('.report table').first().waitFor();
        await page.locator('.report canvas').first().waitFor();
        const rows = await page.locator('.report table tbody tr').count();
        if (rows < 3)
            fail(`report ${name} shows ${rows} rows`);
        await page.getByRole('link', { name: 'All reports' }).click();
        await items.first().waitFor();
    }
    if (names.length < 2)
        fail(`the reports page lists ${names.length} reports`);
    console.log(`ok - reports: ${names.join(', ')} shown as tables and bar charts`);
}

async function main() {
    const started = Date.now();
    const browser = await launch(shots);
    const page = await openPage(browser, url, key);
    await liveChart(page);
    await page.getByRole('link', { name: 'Action Center' }).click();
    await approveSuhoorSurge(page);
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.locator('.service-card .chart-plot canvas').first().waitFor();
    await page.waitForTimeout(4000);
    await page.evaluate(() => document.querySelectorAll('.toast-close').forEach(button => button.click()));
    await page.screenshot({ path: path.join(shots, 'live-overview.png') });
    const phone = await openPage(browser, url, key, { width: 390, height: 844 });
    await phone.locator('.service-card .chart-plot canvas').first().waitFor();
    await phone.waitForTimeout(1500);
    await noOverflow(phone, 'the live overview');
    await phone.screenshot({ path: path.join(shots, 'live-overview-phone.png') });
    await phone.context().close();
    await reports(page);
    await browser.close();
    console.log(`ok - live demo done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch(error => fail(error.stack || error.message));
