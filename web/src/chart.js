// One service's chart (uPlot): demand behind now, the forecast and its 80 % interval ahead, the ready capacity and
// replica counts as steps, anomalies as red dots, Suhoor and Iftar shaded, and a line at now. The container carries
// data-points (demand points drawn) and data-streamed (points the stream brought) so tests can tell it is moving.

import { html } from './html.js';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { prayerBands } from './calendar.js';
import { clockTime, currentTimeZone, dateTime, number } from './format.js';
import { HISTORY_SECONDS, clockNow, pointsOf, state } from './store.js';

export const COLORS = {
    demand: '#0a58ca', forecast: '#7b3fc4', interval: 'rgba(123, 63, 196, 0.16)', capacity: '#1a7f37',
    replicas: '#a15c00', anomaly: '#d1242f', suhoor: 'rgba(240, 180, 0, 0.18)', iftar: 'rgba(235, 100, 40, 0.14)',
    now: '#57606a',
};

const SERIES = { demand: 1, capacity: 2, mean: 3, upper: 4, lower: 5, replicas: 6, anomaly: 7 };

function anomaliesOf(service, from) {
    return state.alerts.filter(a => a.service === service && a.id.startsWith('anomaly-') && a.at >= from);
}

// Aligned columns for uPlot: one x for every point, forecast step and anomaly; null where a series has nothing.
// Ticks bring ready replicas from the moment the page opened; before that, the counts executed recommendations
// scaled to stand in for them (a function of time, null before the first known count).
function replicasAsScaled(service, points) {
    const firstTick = points.find(p => Number.isFinite(p.ready));
    const until = firstTick ? firstTick.ts : Infinity;
    const steps = [...state.recommendations.values()]
        .filter(r => r.target === service && r.state === 'executed' && Number.isFinite(r.finished_at))
        .sort((a, b) => a.finished_at - b.finished_at);
    const info = state.services.find(s => s.name === service);
    const at = ts => {
        if (ts >= until || steps.length === 0)
            return null;
        let count = steps[0].from_replicas;
        for (const step of steps)
            if (step.finished_at <= ts)
                count = step.to_replicas;
        return count;
    };
    at.perReplica = info ? info.capacity_per_replica : NaN;
    return at;
}

// The window starts historySeconds back, or at the first point when there is less (but shows an hour at least).
export function chartData(service, now, historySeconds) {
    const all = pointsOf(service);
    const first = all.length ? all[0].ts : now;
    const from = Math.min(now - 3600, Math.max(now - historySeconds, first));
    const rows = new Map();
    const row = ts => {
        if (!rows.has(ts))
            rows.set(ts, [ts, null, null, null, null, null, null, null]);
        return rows.get(ts);
    };
    const points = all.filter(p => p.ts >= from);
    const scaled = replicasAsScaled(service, points);
    for (const p of points) {
        const r = row(p.ts);
        const replicas = Number.isFinite(p.ready) ? p.ready : scaled(p.ts);
        r[SERIES.demand] = Number.isFinite(p.demand) ? p.demand : null;
        r[SERIES.capacity] = Number.isFinite(p.capacity) ? p.capacity
            : replicas !== null && Number.isFinite(scaled.perReplica) ? replicas * scaled.perReplica : null;
        r[SERIES.replicas] = replicas;
    }
    const forecast = state.forecasts[service];
    let forecastEnd = now;
    if (forecast && forecast.mean) {
        forecast.mean.forEach((mean, i) => {
            const ts = forecast.start + i * forecast.step;
            if (ts < from)
                return;
            const r = row(ts);
            r[SERIES.mean] = Number.isFinite(mean) ? mean : null;
            r[SERIES.upper] = Number.isFinite(forecast.upper80[i]) ? forecast.upper80[i] : null;
            r[SERIES.lower] = Number.isFinite(forecast.lower80[i]) ? forecast.lower80[i] : null;
            forecastEnd = Math.max(forecastEnd, ts);
        });
    }
    for (const alert of anomaliesOf(service, from)) {
        const nearest = points.reduce((best, p) => (!best || Math.abs(p.ts - alert.at) < Math.abs(best.ts - alert.at)
            ? p : best), null);
        row(alert.at)[SERIES.anomaly] = nearest && Number.isFinite(nearest.demand) ? nearest.demand : 0;
    }
    const sorted = [...rows.values()].sort((a, b) => a[0] - b[0]);
    const columns = Array.from({ length: 8 }, (_, i) => sorted.map(r => r[i]));
    return { columns, from, to: Math.max(forecastEnd, now + 600), demandPoints: points.filter(p =>
        Number.isFinite(p.demand)).length, forecastPoints: forecast && forecast.mean ? forecast.mean.length : 0 };
}

function bandEdges(u, band) {
    const { bbox } = u;
    return [Math.max(bbox.left, u.valToPos(band.from, 'x', true)),
            Math.min(bbox.left + bbox.width, u.valToPos(band.to, 'x', true))];
}

// Under everything: the shaded bands.
function drawBands(u, bands) {
    const { ctx, bbox } = u;
    ctx.save();
    for (const band of bands) {
        const [left, right] = bandEdges(u, band);
        if (right <= left)
            continue;
        ctx.fillStyle = COLORS[band.kind];
        ctx.fillRect(left, bbox.top, right - left, bbox.height);
    }
    ctx.restore();
}

// Over everything: their names, on a light box so grid lines do not cross them.
function drawBandLabels(u, bands) {
    const { ctx, bbox } = u, pixel = devicePixelRatio;
    ctx.save();
    ctx.font = `${Math.round(11 * pixel)}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    for (const band of bands) {
        const [left, right] = bandEdges(u, band);
        const width = ctx.measureText(band.label).width;
        if (right - left < width + 8 * pixel)
            continue;
        ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
        ctx.fillRect(left + 2 * pixel, bbox.top + 2 * pixel, width + 4 * pixel, 14 * pixel);
        ctx.fillStyle = '#57606a';
        ctx.fillText(band.label, left + 4 * pixel, bbox.top + 4 * pixel);
    }
    ctx.restore();
}

function drawNow(u, now) {
    const x = u.valToPos(now, 'x', true);
    const { ctx, bbox } = u;
    if (x < bbox.left || x > bbox.left + bbox.width)
        return;
    ctx.save();
    ctx.strokeStyle = COLORS.now;
    ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.lineWidth = devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    ctx.restore();
}

function readout(u, idx) {
    if (idx === null || idx === undefined)
        return '';
    const value = i => u.data[i][idx];
    const parts = [dateTime(u.data[0][idx])];
    if (value(SERIES.demand) !== null)
        parts.push(`demand ${number(value(SERIES.demand))} req/s`);
    if (value(SERIES.mean) !== null)
        parts.push(`forecast ${number(value(SERIES.mean))} (80 %: ${number(value(SERIES.lower))}–` +
                   `${number(value(SERIES.upper))})`);
    if (value(SERIES.capacity) !== null)
        parts.push(`capacity ${number(value(SERIES.capacity))}`);
    if (value(SERIES.replicas) !== null)
        parts.push(`${number(value(SERIES.replicas))} ready`);
    if (value(SERIES.anomaly) !== null)
        parts.push('anomaly');
    return parts.join(' · ');
}

function options(width, height, view) {
    const zone = currentTimeZone();
    return {
        width, height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        tzDate: zone ? ts => uPlot.tzDate(new Date(ts * 1000), zone) : undefined,
        scales: {
            x: { time: true, range: () => [view.from, view.to] },
            rps: { range: (u, min, max) => [0, Math.max(10, (max || 0) * 1.1)] },
            replicas: { range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.2))] },
        },
        axes: [
            { stroke: '#57606a', grid: { stroke: '#eaeef2' }, values: (u, ticks) => ticks.map(clockTime),
              space: 70 },
            { scale: 'rps', stroke: '#57606a', grid: { stroke: '#eaeef2' }, size: 52,
              values: (u, ticks) => ticks.map(v => (v >= 1000 ? `${v / 1000}k` : v)) },
            { scale: 'replicas', side: 1, stroke: COLORS.replicas, grid: { show: false }, size: 36 },
        ],
        series: [
            {},
            { label: 'demand', scale: 'rps', stroke: COLORS.demand, width: 2, points: { show: false } },
            { label: 'ready capacity', scale: 'rps', stroke: COLORS.capacity, width: 1.5,
              paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
            { label: 'forecast', scale: 'rps', stroke: COLORS.forecast, width: 2, dash: [6, 4],
              points: { show: false } },
            { label: 'upper 80 %', scale: 'rps', stroke: 'rgba(123, 63, 196, 0.35)', width: 1,
              points: { show: false } },
            { label: 'lower 80 %', scale: 'rps', stroke: 'rgba(123, 63, 196, 0.35)', width: 1,
              points: { show: false } },
            { label: 'ready replicas', scale: 'replicas', stroke: COLORS.replicas, width: 1, dash: [2, 3],
              paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
            { label: 'anomaly', scale: 'rps', stroke: COLORS.anomaly, fill: COLORS.anomaly, width: 0,
              paths: () => null, points: { show: true, size: 9, fill: COLORS.anomaly, stroke: '#fff', width: 1.5 } },
        ],
        bands: [{ series: [SERIES.upper, SERIES.lower], fill: COLORS.interval }],
        hooks: {
            drawClear: [u => drawBands(u, view.bands)],
            draw: [u => drawNow(u, view.now), u => drawBandLabels(u, view.bands)],
            setCursor: [u => { if (view.readout) view.readout.textContent = readout(u, u.cursor.idx); }],
        },
    };
}

export function Legend() {
    const item = (color, label, style = '') => html`
        <li><span class="swatch ${style}" style=${`--swatch: ${color}`} aria-hidden="true"></span>${label}</li>`;
    return html`
        <ul class="legend" aria-label="Chart legend">
            ${item(COLORS.demand, 'demand')}
            ${item(COLORS.forecast, 'forecast', 'dashed')}
            ${item(COLORS.interval, '80 % interval', 'area')}
            ${item(COLORS.capacity, 'ready capacity')}
            ${item(COLORS.replicas, 'ready replicas (right axis)', 'dotted')}
            ${item(COLORS.anomaly, 'anomaly', 'dot')}
            ${item(COLORS.suhoor, 'Suhoor', 'area')}
            ${item(COLORS.iftar, 'Iftar', 'area')}
        </ul>`;
}

// The chart of one service; re-drawn with new data on every render, rebuilt only when its size or zone changes.
export function ServiceChart({ service, historySeconds = HISTORY_SECONDS, height = 240 }) {
    const box = useRef(null), plot = useRef(null), readoutLine = useRef(null);
    const view = useRef({ from: 0, to: 1, now: 0, bands: [], readout: null, zone: undefined });
    const now = clockNow();
    const data = chartData(service, now, historySeconds);
    const bands = prayerBands(state.calendar).filter(b => b.to > data.from && b.from < data.to);
    Object.assign(view.current, { from: data.from, to: data.to, now, bands });

    useEffect(() => {
        const element = box.current;
        view.current.readout = readoutLine.current;
        const build = () => {
            if (plot.current)
                plot.current.destroy();
            view.current.zone = currentTimeZone();
            plot.current = new uPlot(options(Math.max(200, element.clientWidth), height, view.current),
                                     data.columns, element);
        };
        build();
        let lastWidth = element.clientWidth;
        const resize = new ResizeObserver(() => {
            if (element.clientWidth !== lastWidth && plot.current) {
                lastWidth = element.clientWidth;
                plot.current.setSize({ width: Math.max(200, lastWidth), height });
            }
        });
        resize.observe(element);
        view.current.rebuild = build;
        return () => {
            resize.disconnect();
            plot.current.destroy();
            plot.current = null;
        };
    }, [service, height]);

    useEffect(() => {
        if (!plot.current)
            return;
        if (view.current.zone !== currentTimeZone())
            view.current.rebuild();
        else
            plot.current.setData(data.columns);
    });

    return html`
        <figure class="chart" aria-label=${`Traffic, forecast and capacity of ${service}`}>
            <div class="chart-plot" ref=${box} data-points=${data.demandPoints}
                 data-forecast-points=${data.forecastPoints} data-bands=${bands.length}
                 data-streamed=${state.streamed[service] || 0}></div>
            <figcaption class="chart-readout" ref=${readoutLine} aria-live="off"></figcaption>
        </figure>`;
}
