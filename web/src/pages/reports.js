// Simulator reports (`hydra simulate --json`) and policy comparisons (`--compare`) from the daemon's reports folder,
// as tables and bar charts.

import { html } from '../html.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';

import { api, encode } from '../api.js';
import { dateTime, decimal, number } from '../format.js';
import { Empty, ErrorNote, Link } from '../ui.js';
import { COLORS } from '../chart.js';

const get = (object, path) => path.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]),
                                                    object);

// The scorecard's rows: label, where in the JSON, whether less is better.
const ROWS = [
    ['SLO violation minutes', 'totals.slo_violation_minutes', true],
    ['dropped requests', 'totals.dropped_requests', true],
    ['replica-hours', 'totals.replica_hours', true],
    ['recommendations', 'recommendations.total'],
    ['auto-approved', 'recommendations.auto_approved'],
    ['asked a person', 'recommendations.asked', true],
    ['approved', 'recommendations.approved'],
    ['rejected', 'recommendations.rejected'],
    ['expired', 'recommendations.expired', true],
    ['executed', 'recommendations.executed'],
    ['failed', 'recommendations.failed', true],
    ['policy errors', 'policy_errors', true],
    ['a person answered in, median (s)', 'human_response_seconds.median'],
    ['a person answered in, p90 (s)', 'human_response_seconds.p90'],
];

// The runs of a comparison, whichever list the document keeps them in.
export function runsOf(doc) {
    if (Array.isArray(doc))
        return doc;
    for (const key of ['runs', 'results', 'policies', 'comparison'])
        if (Array.isArray(doc[key]))
            return doc[key];
    return [];
}

function runLabel(run, i) {
    const name = run.name || run.label || run.policy || run.config || `run ${i + 1}`;
    return String(name).replace(/^policy /, '');
}

function BarChart({ title, labels, values, color = COLORS.demand }) {
    const box = useRef(null);
    useEffect(() => {
        const element = box.current;
        const width = () => Math.max(200, element.clientWidth);
        const plot = new uPlot({
            width: width(), height: 200, legend: { show: false }, cursor: { show: false },
            scales: { x: { time: false, range: () => [-0.5, labels.length - 0.5] },
                      y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
            axes: [{ values: (u, ticks) => ticks.map(t => (Number.isInteger(t) ? labels[t] || '' : '')),
                     splits: () => labels.map((_, i) => i), grid: { show: false } },
                   { size: 56, grid: { stroke: '#eaeef2' } }],
            series: [{}, { label: title, stroke: color, fill: `${color}99`,
                           paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }],
        }, [labels.map((_, i) => i), values], element);
        const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 200 }));
        resize.observe(element);
        return () => {
            resize.disconnect();
            plot.destroy();
        };
    }, [title, labels.join('\n'), values.join(',')]);
    return html`<figure class="chart bar-chart"><figcaption>${title}</figcaption>
                    <div class="chart-plot" ref=${box}></div></figure>`;
}

function Scorecard({ doc }) {
    const services = doc.services || [];
    return html`
        <p class="hint">Scenario ${doc.scenario}, ${doc.policy}, seed ${doc.seed}, ${decimal(doc.days)} days in
            steps of ${number(doc.step_seconds)} s; ran in ${decimal(doc.wall_seconds)} s.</p>
        <div class="table-wrap">
            <table class="scorecard">
                <tbody>${ROWS.filter(([, path]) => get(doc, path) !== undefined).map(([label, path]) => html`
                    <tr><th scope="row">${label}</th><td>${decimal(get(doc, path))}</td></tr>`)}</tbody>
            </table>
        </div>
        ${services.length ? html`
            <h2>Per service</h2>
            <div class="table-wrap">
                <table>
                    <thead><tr><th scope="col">service</th><th scope="col">SLO violation min</th>
                               <th scope="col">dropped</th><th scope="col">replica-hours</th>
                               <th scope="col">max replicas</th><th scope="col">scale actions</th></tr></thead>
                    <tbody>${services.map(s => html`
                        <tr><td>${s.name}</td><td>${decimal(s.slo_violation_minutes)}</td>
                            <td>${number(s.dropped_requests)}</td><td>${decimal(s.replica_hours)}</td>
                            <td>${s.max_replicas}</td><td>${s.scale_actions}</td></tr>`)}</tbody>
                </table>
            </div>
            <div class="chart-grid">
                <${BarChart} title="Replica-hours per service" labels=${services.map(s => s.name)}
                             values=${services.map(s => s.replica_hours)} color=${COLORS.capacity} />
                <${BarChart} title="SLO violation minutes per service" labels=${services.map(s => s.name)}
                             values=${services.map(s => s.slo_violation_minutes)} color=${COLORS.anomaly} />
            </div>` : ''}`;
}

function Comparison({ doc }) {
    const runs = runsOf(doc);
    if (runs.length === 0)
        return html`<${ErrorNote}>This comparison lists no runs.</${ErrorNote}>`;
    const labels = runs.map(runLabel);
    const rows = ROWS.filter(([, path]) => runs.some(r => get(r, path) !== undefined));
    return html`
        ${runs[0].scenario ? html`<p class="hint">Scenario ${runs[0].scenario}; the best of each row is marked.</p>`
                           : ''}
        <div class="table-wrap">
            <table class="comparison">
                <thead><tr><th scope="col">policy or config</th>${labels.map(l => html`<th scope="col">${l}</th>`)}
                       </tr></thead>
                <tbody>${rows.map(([label, path, lessIsBetter]) => {
                    const values = runs.map(r => get(r, path));
                    const best = lessIsBetter ? Math.min(...values.filter(Number.isFinite)) : NaN;
                    return html`<tr><th scope="row">${label}</th>${values.map(v => html`
                        <td class=${v === best ? 'best' : ''}>${decimal(v)}</td>`)}</tr>`;
                })}</tbody>
            </table>
        </div>
        <div class="chart-grid">
            <${BarChart} title="SLO violation minutes" labels=${labels} color=${COLORS.anomaly}
                         values=${runs.map(r => get(r, 'totals.slo_violation_minutes') ?? 0)} />
            <${BarChart} title="Replica-hours" labels=${labels} color=${COLORS.capacity}
                         values=${runs.map(r => get(r, 'totals.replica_hours') ?? 0)} />
            <${BarChart} title="Asked a person" labels=${labels} color=${COLORS.forecast}
                         values=${runs.map(r => get(r, 'recommendations.asked') ?? 0)} />
        </div>`;
}

function Report({ name }) {
    const [doc, setDoc] = useState(null);
    useEffect(() => {
        let live = true;
        setDoc(null);
        api(`/api/v1/reports/${encode(name)}`).then(d => live && setDoc(d), e => live && setDoc({ error: e.message }));
        return () => { live = false; };
    }, [name]);
    const isComparison = doc && !doc.error && runsOf(doc).length > 0;
    return html`
        <section class="page report" data-report=${name}>
            <div class="page-head">
                <h1>${name}</h1>
                <p class="hint"><${Link} href="/reports">All reports</${Link}></p>
            </div>
            ${!doc ? html`<p class="hint">Loading…</p>`
                : doc.error ? html`<${ErrorNote}>${doc.error}</${ErrorNote}>`
                : isComparison ? html`<${Comparison} doc=${doc} />` : html`<${Scorecard} doc=${doc} />`}
        </section>`;
}

export function Reports({ name }) {
    const [list, setList] = useState(null);
    useEffect(() => {
        if (name)
            return undefined;
        let live = true;
        api('/api/v1/reports').then(a => live && setList(a), e => live && setList({ error: e.message }));
        return () => { live = false; };
    }, [name]);
    if (name)
        return html`<${Report} name=${name} />`;
    const reports = list && list.reports ? [...list.reports].sort((a, b) => b.created_at - a.created_at) : [];
    return html`
        <section class="page">
            <div class="page-head">
                <h1>Reports</h1>
                <p class="hint">Scorecards of <code>hydra simulate --json</code> and comparisons of
                    <code>--compare</code>, from the daemon's reports folder.</p>
            </div>
            ${!list ? html`<p class="hint">Loading…</p>`
                : list.error ? html`<${ErrorNote}>${list.error}</${ErrorNote}>`
                : reports.length === 0 ? html`<${Empty}>No reports yet.</${Empty}>`
                : html`<ul class="report-list">${reports.map(r => html`
                    <li key=${r.name}><${Link} href=${`/reports/${encodeURIComponent(r.name)}`}>${r.name}</${Link}>
                        <span class="badge">${r.kind}</span>
                        <span class="hint">${dateTime(r.created_at)}</span></li>`)}</ul>`}
        </section>`;
}
