// The audit log: who did what and when (approvals, rejections, pauses...), newest first, read again whenever a
// recommendation changes state.

import { html } from '../html.js';
import { useEffect, useState } from 'preact/hooks';

import { api } from '../api.js';
import { fullTime } from '../format.js';
import { state } from '../store.js';
import { Empty, ErrorNote } from '../ui.js';

const LIMIT = 200;

export function AuditLog() {
    const [answer, setAnswer] = useState(null);
    const decided = [...state.recommendations.values()].map(r => `${r.id}:${r.state}`).join(',');
    useEffect(() => {
        let live = true;
        api(`/api/v1/audit?limit=${LIMIT}`).then(a => live && setAnswer(a), e => live && setAnswer({ error: e.message }));
        return () => { live = false; };
    }, [decided]);
    const body = !answer ? html`<p class="hint">Loading…</p>`
        : answer.error ? html`<${ErrorNote}>${answer.error}</${ErrorNote}>`
        : answer.entries.length === 0 ? html`<${Empty}>Nothing recorded yet.</${Empty}>`
        : html`
            <div class="table-wrap">
                <table class="audit">
                    <thead><tr><th scope="col">when</th><th scope="col">who</th><th scope="col">action</th>
                               <th scope="col">subject</th><th scope="col">detail</th><th scope="col">request</th></tr>
                    </thead>
                    <tbody>
                        ${answer.entries.map((e, i) => html`
                            <tr key=${i} data-action=${e.action} data-subject=${e.subject}>
                                <td>${fullTime(e.at)}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.subject}</td>
                                <td>${e.detail}</td><td class="mono">${e.request_id}</td>
                            </tr>`)}
                    </tbody>
                </table>
            </div>`;
    return html`
        <section class="page">
            <div class="page-head">
                <h1>Audit log</h1>
                <p class="hint">The last ${LIMIT} entries, newest first.</p>
            </div>
            ${body}
        </section>`;
}
