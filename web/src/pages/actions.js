// The Action Center: recommendations waiting for a person, as cards with the forecast behind them, Approve and Reject
// (with a reason) for keys with the approve scope, and the time left before each expires.

import { html } from '../html.js';
import { useState } from 'preact/hooks';

import { bandAt, prayerBands } from '../calendar.js';
import { clockTime, dateTime, duration, number } from '../format.js';
import { can, clockNow, decide, recommendationsSorted, state, toast } from '../store.js';
import { Empty, Link, useTicker } from '../ui.js';

const IN_FLIGHT = new Set(['approved', 'executing']);

// The policy's words when it asked a person: the creation event's why.
export function askedBecause(rec) {
    const created = (rec.events || []).find(e => e.from === e.to);
    return created && created.why ? created.why : '';
}

export function headline(rec) {
    if (rec.to_replicas < rec.from_replicas)
        return 'Demand is falling: scale down';
    if ((rec.reason || '').startsWith('load now'))
        return 'Load above ready capacity';
    const band = Number.isFinite(rec.forecast_peak_at)
        ? bandAt(prayerBands(state.calendar), rec.forecast_peak_at, 3600) : null;
    return band ? `Predicted ${band.label} surge` : 'Predicted surge';
}

// "Scale donations-api from 12 to 40 replicas by 02:40 — forecast peak 3,900 req/s, 80 % interval …". The planner
// may size an early question for the 95 % upper bound; then the sentence says so and gives the mean too.
export function summary(rec) {
    if ((rec.reason || '').startsWith('load now'))
        return `Scale ${rec.target} from ${rec.from_replicas} to ${rec.to_replicas} replicas now — the load, ` +
               `${number(rec.forecast_peak)} req/s, is above what the ready replicas serve.`;
    const by = Number.isFinite(rec.forecast_peak_at) ? ` by ${clockTime(rec.forecast_peak_at)}` : '';
    let peak = '';
    if (Number.isFinite(rec.forecast_peak) && rec.forecast_peak > 0) {
        const near = (a, b) => Number.isFinite(a) && Math.abs(a - b) <= Math.max(1, 0.005 * b);
        let f = state.forecastAtPeak[rec.id];
        // A later forecast is quoted only while it still says what the recommendation was sized for.
        if (f && !f.fromItsTick && !near(f.mean, rec.forecast_peak) && !near(f.upper95, rec.forecast_peak))
            f = null;
        const interval = f && Number.isFinite(f.lower80) && Number.isFinite(f.upper80)
            ? `80 % interval ${number(f.lower80)}–${number(f.upper80)} req/s` : '';
        const source = f && !f.fromItsTick ? ' in the latest forecast' : '';
        if (f && near(f.upper95, rec.forecast_peak) && !near(f.mean, rec.forecast_peak))
            peak = ` — forecast peak ${number(rec.forecast_peak)} req/s (the 95 % upper bound; mean ` +
                   `${number(f.mean)}${interval ? `, ${interval}` : ''}${source})`;
        else
            peak = ` — forecast peak ${number(rec.forecast_peak)} req/s${interval ? `, ${interval}${source}` : ''}`;
    }
    return `Scale ${rec.target} from ${rec.from_replicas} to ${rec.to_replicas} replicas${by}${peak}.`;
}

function TimeLeft({ rec }) {
    const left = rec.expires_at - clockNow();
    const speed = state.clock.speed;
    const wall = speed !== 1 && left > 0 ? ` (${duration(left / speed)} of wall time at ${speed}×)` : '';
    const soon = left < 0.25 * (rec.expires_at - rec.created_at); // the last quarter of its time, whatever the speed
    return html`
        <p class=${`expiry ${soon ? 'soon' : ''}`} data-seconds-left=${Math.round(left)}>
            ${left > 0 ? html`Expires in <strong>${duration(left)}</strong>${wall}, at ${clockTime(rec.expires_at)}`
                       : 'Expiring now'}
        </p>`;
}

function DecisionButtons({ rec }) {
    const [rejecting, setRejecting] = useState(false);
    const [reason, setReason] = useState('');
    const [busy, setBusy] = useState(false);
    const act = async (approve, why) => {
        setBusy(true);
        try {
            const answer = await decide(rec.id, approve, why);
            toast('info', `${approve ? 'Approved' : 'Rejected'} ${rec.target} ${rec.from_replicas} → ` +
                          `${rec.to_replicas}: now ${answer.state}.`);
            setRejecting(false);
        } catch (error) {
            // 409: decided or replaced meanwhile (a rising surge replaces its card): the newest card is the question.
            const late = error.status === 409 ? ' — it was decided or replaced meanwhile; see the newest card' : '';
            toast('error', `Could not ${approve ? 'approve' : 'reject'}: ${error.message}${late}`);
        } finally {
            setBusy(false);
        }
    };
    const reasonId = `reason-${rec.id}`;
    if (rejecting) {
        return html`
            <form class="reject-form" onSubmit=${e => { e.preventDefault(); act(false, reason.trim()); }}>
                <label for=${reasonId}>Why reject it?</label>
                <textarea id=${reasonId} rows="2" required value=${reason} placeholder="e.g. a campaign ends tonight"
                          onInput=${e => setReason(e.currentTarget.value)}></textarea>
                <div class="buttons">
                    <button type="submit" class="danger" disabled=${busy || !reason.trim()}>Reject</button>
                    <button type="button" class="quiet" onClick=${() => setRejecting(false)}>Cancel</button>
                </div>
            </form>`;
    }
    return html`
        <div class="buttons">
            <button type="button" class="primary" disabled=${busy} onClick=${() => act(true, '')}>Approve</button>
            <button type="button" class="danger-outline" disabled=${busy} onClick=${() => setRejecting(true)}>
                Reject…</button>
        </div>`;
}

function PendingCard({ rec }) {
    const why = askedBecause(rec);
    return html`
        <article class="card rec-card" data-id=${rec.id} data-state=${rec.state} aria-labelledby=${`h-${rec.id}`}>
            <header class="card-head">
                <h2 id=${`h-${rec.id}`}>${headline(rec)}</h2>
                <span class="badge state-pending">pending</span>
            </header>
            <p class="rec-summary">${summary(rec)}</p>
            ${why ? html`<p class="asked"><strong>Asked because</strong> ${why}</p>` : ''}
            <details>
                <summary>The planner's reasoning</summary>
                <p>${rec.reason}</p>
                <p class="hint">Recommendation ${rec.id}, made ${dateTime(rec.created_at)}.
                   <${Link} href=${`/services/${encodeURIComponent(rec.target)}`}>${rec.target}</${Link}></p>
            </details>
            <${TimeLeft} rec=${rec} />
            ${can('approve') ? html`<${DecisionButtons} key=${rec.id} rec=${rec} />` : ''}
        </article>`;
}

// A card the controller replaced because demand outgrew it was rejected by nobody: it is shown as superseded.
export function stateOf(rec) {
    return rec.state === 'rejected' && rec.decided_by === 'controller' &&
        (rec.decision_reason || '').startsWith('superseded') ? 'superseded' : rec.state;
}

export function StateBadge({ value }) {
    return html`<span class=${`badge state-${value}`}>${value}</span>`;
}

function DecisionRow({ rec }) {
    return html`
        <li class="decision" data-id=${rec.id} data-state=${rec.state}>
            <div class="decision-head">
                <${StateBadge} value=${stateOf(rec)} />
                <strong>${rec.target}</strong> ${rec.from_replicas} → ${rec.to_replicas} replicas
                <span class="hint">${dateTime(rec.decided_at || rec.created_at)}</span>
            </div>
            <div class="hint">
                ${rec.decided_by ? html`by <strong>${rec.decided_by}</strong>` : 'not decided'}
                ${rec.decision_reason ? `: ${rec.decision_reason}` : ''}
                ${rec.result ? html` · ${rec.result}` : ''}
            </div>
        </li>`;
}

export function ActionCenter() {
    useTicker(500);
    const all = recommendationsSorted();
    const pending = all.filter(r => r.state === 'pending').sort((a, b) => a.expires_at - b.expires_at);
    const inFlight = all.filter(r => IN_FLIGHT.has(r.state));
    const decided = all.filter(r => r.state !== 'pending' && !IN_FLIGHT.has(r.state)).slice(0, 20);
    return html`
        <section class="page">
            <div class="page-head">
                <h1>Action Center</h1>
                <p class="hint">${pending.length ? `${pending.length} waiting for a decision` : 'Nothing waiting'}.
                    ${can('approve') ? '' : ' Your key has the read scope only: it can look, not decide.'}</p>
            </div>
            <div class="cards">
                ${pending.length === 0
                    ? html`<${Empty}>No recommendation is waiting. When hydra predicts a surge it cannot scale for
                              on its own, the question appears here.</${Empty}>`
                    : pending.map(rec => html`<${PendingCard} key=${rec.id} rec=${rec} />`)}
            </div>
            ${inFlight.length ? html`
                <h2>In progress</h2>
                <ul class="decisions">${inFlight.map(rec => html`<${DecisionRow} key=${rec.id} rec=${rec} />`)}</ul>`
                : ''}
            <h2>Recent decisions</h2>
            ${decided.length ? html`<ul class="decisions">${decided.map(rec => html`
                                        <${DecisionRow} key=${rec.id} rec=${rec} />`)}</ul>`
                             : html`<${Empty}>None yet.</${Empty}>`}
        </section>`;
}
