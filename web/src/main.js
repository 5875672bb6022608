// hydra's dashboard: sign in with an API key, then the overview, the Action Center, alerts, services, the audit log
// and the simulator's reports, all fed by the daemon's event stream.

import { html } from './html.js';
import { render } from 'preact';

import './style.css';
import { clockTime, dateTime } from './format.js';
import { can, clockNow, resume, signOut, state } from './store.js';
import { ConnectionBadge, Link, Toasts, usePath, useStore, useTicker } from './ui.js';
import { SignIn } from './pages/signin.js';
import { Overview } from './pages/overview.js';
import { ActionCenter } from './pages/actions.js';
import { Alerts } from './pages/alerts.js';
import { ServicePage } from './pages/service.js';
import { AuditLog } from './pages/audit.js';
import { Reports } from './pages/reports.js';

const PAGES = [
    { path: '/', label: 'Overview' },
    { path: '/actions', label: 'Action Center' },
    { path: '/alerts', label: 'Alerts' },
    { path: '/audit', label: 'Audit log' },
    { path: '/reports', label: 'Reports' },
];

function pageFor(path) {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts.length === 0)
        return html`<${Overview} />`;
    if (parts[0] === 'actions')
        return html`<${ActionCenter} />`;
    if (parts[0] === 'alerts')
        return html`<${Alerts} />`;
    if (parts[0] === 'services' && parts[1])
        return html`<${ServicePage} name=${parts[1]} />`;
    if (parts[0] === 'audit')
        return html`<${AuditLog} />`;
    if (parts[0] === 'reports')
        return html`<${Reports} name=${parts[1]} />`;
    return html`<section><h1>Not found</h1><p>No page at ${path}. <${Link} href="/">Back to the overview</${Link}>
                </p></section>`;
}

function Clock() {
    useTicker(1000);
    const now = clockNow(), speed = state.clock.speed;
    return html`
        <span class="clock" title=${dateTime(now)} data-now=${Math.floor(now)}>
            ${clockTime(now)}${speed !== 1 ? html` <span class="speed">${speed}×</span>` : ''}
        </span>`;
}

function Header({ path }) {
    const pending = [...state.recommendations.values()].filter(r => r.state === 'pending').length;
    const session = state.session;
    const current = page => (page.path === '/' ? path === '/' : path.startsWith(page.path));
    return html`
        <header class="top">
            <div class="top-row">
                <${Link} href="/" class="brand">hydra</${Link}>
                <${Clock} />
                <${ConnectionBadge} />
                <span class="who" title=${`tenant ${session.tenant}; scopes ${session.scopes.join(', ')}`}>
                    ${session.key}${can('approve') ? '' : html` <span class="badge">read only</span>`}
                </span>
                <button type="button" class="quiet" onClick=${() => signOut()}>Sign out</button>
            </div>
            <nav aria-label="Pages">
                <ul>
                    ${PAGES.map(page => html`
                        <li><${Link} href=${page.path} aria-current=${current(page) ? 'page' : undefined}>
                            ${page.label}${page.path === '/actions' && pending
                                ? html` <span class="count" aria-label=${`${pending} pending`}>${pending}</span>` : ''}
                        </${Link}></li>`)}
                </ul>
            </nav>
        </header>`;
}

function App() {
    useStore();
    const path = usePath();
    if (!state.session)
        return html`<${SignIn} /><${Toasts} />`;
    return html`
        <${Header} path=${path} />
        <main id="main">${pageFor(path)}</main>
        <${Toasts} />`;
}

render(html`<${App} />`, document.getElementById('app'));
resume();
