// One service: its chart over a day, the forecast ahead and how well the forecasts seen so far did, hourly history
// from the store, every recommendation with who decided it, and its alerts.

import { html } from '../html.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';

import { Legend, ServiceChart, COLORS } from '../chart.js';
import { api, encode } from '../api.js';
import { clockTime, currentTimeZone, dateTime, decimal, number, percent } from '../format.js';
import { accuracyOf, clockNow, recommendationsSorted, state } from '../store.js';
import { Empty, ErrorNote, Link } from '../ui.js';
import { ServiceStats } from './overview.js';
import { StateBadge, stateOf } from './actions.js';
import { AlertList } from './alerts.js';

const FORECAST_ROWS = 12;

function ForecastTable({ name }) {
    const f = state.forecasts[name];
    if (!f || !f.mean || f.mean.length === 0)
        return html`<${Empty}>No forecast yet: the forecaster needs more history.</${Empty}>`;
    const every = Math.max(1, Math.ceil(f.mean.length / FORECAST_ROWS));
    const rows = f.mean.map((mean, i) => i).filter(i => i % every === 0 || i === f.mean.length - 1);
    return html`
        <div class="table-wrap">
            <table>
                <caption>Forecast from ${dateTime(f.start)}, one row every ${number(every * f.step / 60)} min</caption>
                <thead><tr><th scope="col">time</th><th scope="col">mean req/s</th><th scope="col">80 %</th>
                           <th scope="col">95 %</th></tr></thead>
                <tbody>
                    ${rows.map(i => html`
                        <tr><td>${clockTime(f.start + i * f.step)}</td><td>${number(f.mean[i])}</td>
                            <td>${number(f.lower80[i])}–${number(f.upper80[i])}</td>
                            <td>${f.lower95 ? `${number(f.lower95[i])}–${number(f.upper95[i])}` : '–'}</td></tr>`)}
                </tbody>
            </table>
        </div>`;
}

function Accuracy({ name }) {
    const a = accuracyOf(name);
    if (!a)
        return html`<p class="hint">Accuracy: not yet — it is measured here as forecasts meet the demand that
                                     follows them.</p>`;
    return html`
        <dl class="stats accuracy">
            <div class="stat"><dt>One-step forecasts checked</dt><dd>${number(a.count)}</dd></div>
            <div class="stat"><dt>Mean absolute error</dt><dd>${decimal(a.mae)} req/s</dd></div>
            <div class="stat"><dt>MAPE</dt><dd>${percent(a.mape)}</dd></div>
            <div class="stat"><dt>Inside the 80 % interval</dt><dd>${percent(a.coverage80)}
                <small> (about 80 % when the interval is honest)</small></dd></div>
        </dl>`;
}

function TrendChart({ buckets }) {
    const box = useRef(null);
    useEffect(() => {
        const element = box.current;
        const zone = currentTimeZone();
        const data = [buckets.map(b => b.start), buckets.map(b => b.mean), buckets.map(b => b.p95),
                      buckets.map(b => b.max)];
        const plot = new uPlot({
            width: Math.max(200, element.clientWidth), height: 180, legend: { show: false },
            tzDate: zone ? ts => uPlot.tzDate(new Date(ts * 1000), zone) : undefined,
            axes: [{ values: (u, ticks) => ticks.map(clockTime), space: 60, grid: { stroke: '#eaeef2' } },
                   { size: 52, grid: { stroke: '#eaeef2' } }],
            series: [{}, { label: 'mean', stroke: COLORS.demand, width: 2 },
                     { label: 'p95', stroke: COLORS.forecast, width: 1.5 },
                     { label: 'max', stroke: COLORS.anomaly, width: 1, dash: [3, 3] }],
        }, data, element);
        const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth),
                                                               height: 180 }));
        resize.observe(element);
        return () => {
            resize.disconnect();
            plot.destroy();
        };
    }, [buckets]);
    return html`<figure class="chart"><div class="chart-plot" ref=${box} data-buckets=${buckets.length}></div>
                    <figcaption class="hint">Hourly mean, p95 and max of the stored samples.</figcaption></figure>`;
}

function History({ name }) {
    const [trend, setTrend] = useState(null);
    useEffect(() => {
        let live = true;
        const since = Math.floor(clockNow() - 2 * 86400);
        api(`/api/v1/trends?service=${encode(name)}&bucket=hour&since=${since}`)
            .then(answer => live && setTrend(answer), error => live && setTrend({ error: error.message }));
        return () => { live = false; };
    }, [name]);
    if (!trend)
        return html`<p class="hint">Loading the history…</p>`;
    if (trend.error)
        return html`<${ErrorNote}>${trend.error}</${ErrorNote}>`;
    if (trend.buckets.length === 0)
        return html`<${Empty}>No stored samples in the last two days.</${Empty}>`;
    return html`<${TrendChart} buckets=${trend.buckets} />`;
}

function RecommendationHistory({ name }) {
    const recs = recommendationsSorted().filter(r => r.target === name);
    const [open, setOpen] = useState(null);
    const [events, setEvents] = useState({});
    const show = async id => {
        setOpen(open === id ? null : id);
        if (!events[id]) {
            try {
                const full = await api(`/api/v1/recommendations/${encode(id)}`);
                setEvents(e => ({ ...e, [id]: full.events }));
            } catch (error) {
                setEvents(e => ({ ...e, [id]: { error: error.message } }));
            }
        }
    };
    if (recs.length === 0)
        return html`<${Empty}>No recommendations yet.</${Empty}>`;
    return html`
        <div class="table-wrap">
            <table class="recs">
                <thead><tr><th scope="col">made</th><th scope="col">change</th><th scope="col">state</th>
                           <th scope="col">decided by</th><th scope="col">why</th><th scope="col"></th></tr></thead>
                <tbody>
                    ${recs.map(r => html`
                        <tr key=${r.id} data-id=${r.id}>
                            <td>${dateTime(r.created_at)}</td><td>${r.from_replicas} → ${r.to_replicas}</td>
                            <td><${StateBadge} value=${stateOf(r)} /></td><td>${r.decided_by || '–'}</td>
                            <td>${r.decision_reason || r.reason}</td>
                            <td><button type="button" class="quiet small" aria-expanded=${open === r.id}
                                        onClick=${() => show(r.id)}>History</button></td>
                        </tr>
                        ${open === r.id ? html`
                            <tr class="events-row"><td colspan="6">${!events[r.id] ? 'Loading…'
                                : events[r.id].error ? events[r.id].error
                                : html`<ol class="events">${events[r.id].map(e => html`
                                    <li>${dateTime(e.at)}: ${e.from === e.to ? `created ${e.to}` : `${e.from} → ${e.to}`}
                                        ${e.by ? ` by ${e.by}` : ''}${e.why ? ` — ${e.why}` : ''}</li>`)}</ol>`}
                            </td></tr>` : ''}`)}
                </tbody>
            </table>
        </div>`;
}

export function ServicePage({ name }) {
    const service = state.services.find(s => s.name === name);
    if (!service)
        return html`<section class="page"><h1>${name}</h1>
                    ${state.services.length ? html`<${ErrorNote}>No service called ${name}.</${ErrorNote}>`
                                            : html`<p class="hint">Loading…</p>`}
                    <p><${Link} href="/">Back to the overview</${Link}></p></section>`;
    const alerts = state.alerts.filter(a => a.service === name);
    return html`
        <section class="page service-page" data-service=${name}>
            <div class="page-head">
                <h1>${name}</h1>
                <p class="hint">${`${service.metric}; ${service.min_replicas}–${service.max_replicas} replicas of ` +
                    `${number(service.capacity_per_replica)} req/s`}${service.paused ? ' · paused' : ''}${
                    service.dry_run ? ' · dry run' : ''}</p>
            </div>
            <${ServiceStats} service=${service} />
            <${Legend} />
            <${ServiceChart} service=${name} historySeconds=${24 * 3600} height=${300} />
            <h2>Forecast</h2>
            <${Accuracy} name=${name} />
            <${ForecastTable} name=${name} />
            <h2>History</h2>
            <${History} name=${name} />
            <h2>Recommendations</h2>
            <${RecommendationHistory} name=${name} />
            <h2>Alerts</h2>
            <${AlertList} alerts=${alerts} />
        </section>`;
}
