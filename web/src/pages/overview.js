// The overview: every service's traffic with the forecast ahead of now, capacity and replicas, the Suhoor and Iftar
// bands of the calendar, and anomalies; updated from the event stream as the controller ticks.

import { html } from '../html.js';

import { Legend, ServiceChart } from '../chart.js';
import { prayerBands } from '../calendar.js';
import { clockTime, dateTime, number } from '../format.js';
import { clockNow, pointsOf, state } from '../store.js';
import { Empty, Link } from '../ui.js';

// The highest mean of the latest forecast, with its time and 80 % interval; null without a forecast.
export function forecastPeak(service) {
    const f = state.forecasts[service];
    if (!f || !f.mean || f.mean.length === 0)
        return null;
    let best = -1;
    f.mean.forEach((mean, i) => {
        if (Number.isFinite(mean) && (best < 0 || mean > f.mean[best]))
            best = i;
    });
    if (best < 0)
        return null;
    return { value: f.mean[best], at: f.start + best * f.step, lower80: f.lower80[best], upper80: f.upper80[best],
             until: f.start + (f.mean.length - 1) * f.step };
}

function latestPoint(service) {
    const points = pointsOf(service).filter(p => Number.isFinite(p.demand));
    return points.length ? points[points.length - 1] : null;
}

function Stat({ label, value, detail }) {
    return html`<div class="stat"><dt>${label}</dt><dd>${value}${detail ? html`<small>${detail}</small>` : ''}</dd>
                </div>`;
}

export function ServiceStats({ service }) {
    const latest = latestPoint(service.name);
    const peak = forecastPeak(service.name);
    const capacity = latest && Number.isFinite(latest.capacity) ? latest.capacity
        : service.ready * service.capacity_per_replica;
    return html`
        <dl class="stats">
            <${Stat} label="Demand now" value=${`${number(latest ? latest.demand : service.load)} req/s`} />
            <${Stat} label="Forecast peak" value=${peak ? `${number(peak.value)} req/s` : '–'}
                     detail=${peak ? ` at ${clockTime(peak.at)}, 80 %: ${number(peak.lower80)}–${number(peak.upper80)}`
                                   : ' no forecast yet'} />
            <${Stat} label="Ready capacity" value=${`${number(capacity)} req/s`}
                     detail=${` ${number(service.capacity_per_replica)} per replica`} />
            <${Stat} label="Replicas" value=${`${number(service.ready)} ready`}
                     detail=${` ${number(service.desired)} desired, ${service.min_replicas}–${service.max_replicas}`} />
        </dl>`;
}

function CalendarLine() {
    const calendar = state.calendar;
    if (!calendar)
        return '';
    if (calendar.error)
        return html`<p class="hint">No Suhoor or Iftar bands: ${calendar.error}</p>`;
    const now = clockNow();
    const next = prayerBands(calendar).filter(b => b.to > now).slice(0, 2);
    const place = calendar.location ? `${calendar.location.latitude}, ${calendar.location.longitude}` : '';
    const today = (calendar.days || []).find(d => d.fajr <= now + 86400 && d.isha >= now - 86400 && d.isha >= now)
        || (calendar.days || [])[0];
    return html`
        <p class="hint calendar-line">
            ${today ? html`${today.hijri}${today.ramadan_day ? ` · Ramadan day ${today.ramadan_day}` : ''} · ` : ''}
            ${next.length ? next.map((b, i) => html`${i ? ', ' : ''}${b.label} ${clockTime(b.from)}–${clockTime(b.to)}`)
                          : 'not Ramadan: no Suhoor or Iftar bands'}
            ${place ? html` · <span title="calendar location">${place}</span>` : ''}
        </p>`;
}

function ServiceCard({ service }) {
    const pending = [...state.recommendations.values()].filter(r => r.state === 'pending' &&
                                                                     r.target === service.name);
    return html`
        <section class="card service-card" aria-labelledby=${`svc-${service.name}`} data-service=${service.name}>
            <header class="card-head">
                <h2 id=${`svc-${service.name}`}><${Link} href=${`/services/${encodeURIComponent(service.name)}`}>
                    ${service.name}</${Link}></h2>
                ${service.paused ? html`<span class="badge warn">paused</span>` : ''}
                ${service.dry_run ? html`<span class="badge">dry run</span>` : ''}
                ${pending.length ? html`<${Link} href="/actions" class="badge action">
                    ${pending.length} waiting for a decision</${Link}>` : ''}
            </header>
            <${ServiceStats} service=${service} />
            <${ServiceChart} service=${service.name} />
        </section>`;
}

export function Overview() {
    const now = clockNow();
    return html`
        <section class="page">
            <div class="page-head">
                <h1>Overview</h1>
                <p class="hint">Traffic up to now (12 hours at most) and the forecast ahead, as of ${dateTime(now)}.</p>
            </div>
            <${CalendarLine} />
            <${Legend} />
            ${state.services.length === 0 ? html`<${Empty}>No services yet.</${Empty}>`
                : state.services.map(s => html`<${ServiceCard} key=${s.name} service=${s} />`)}
        </section>`;
}
