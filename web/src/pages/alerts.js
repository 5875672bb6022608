// Alerts: anomalies a detector scored and demand spikes or declines the forecast sees coming, newest first.

import { html } from '../html.js';
import { useState } from 'preact/hooks';

import { dateTime, decimal } from '../format.js';
import { state } from '../store.js';
import { Empty, Link } from '../ui.js';

export function alertKind(alert) {
    return alert.id.startsWith('anomaly-') ? 'anomaly' : alert.id.startsWith('demand-spike-') ? 'spike ahead'
        : alert.id.startsWith('demand-decline-') ? 'decline ahead' : 'alert';
}

export function AlertList({ alerts }) {
    if (alerts.length === 0)
        return html`<${Empty}>No alerts.</${Empty}>`;
    return html`
        <ul class="alerts">
            ${alerts.map(a => html`
                <li class=${`alert alert-${alertKind(a).split(' ')[0]}`} key=${a.id} data-id=${a.id}>
                    <div class="decision-head">
                        <span class="badge">${alertKind(a)}</span>
                        <${Link} href=${`/services/${encodeURIComponent(a.service)}`}>${a.service}</${Link}>
                        <span class="hint">${dateTime(a.at)} · score ${decimal(a.score)}</span>
                    </div>
                    <p>${a.message}</p>
                </li>`)}
        </ul>`;
}

export function Alerts() {
    const [service, setService] = useState('');
    const alerts = state.alerts.filter(a => !service || a.service === service);
    return html`
        <section class="page">
            <div class="page-head">
                <h1>Alerts</h1>
                <p class="hint">The last 7 days; new ones appear as they are raised.</p>
            </div>
            <div class="filters">
                <label for="alert-service">Service</label>
                <select id="alert-service" value=${service} onChange=${e => setService(e.currentTarget.value)}>
                    <option value="">all</option>
                    ${state.services.map(s => html`<option value=${s.name}>${s.name}</option>`)}
                </select>
            </div>
            <${AlertList} alerts=${alerts} />
        </section>`;
}
