// Small pieces every page uses: links that stay in the page, the store hook, toasts, the connection badge.

import { html } from './html.js';
import { useEffect, useState } from 'preact/hooks';

import { duration } from './format.js';
import { dismissToast, state, subscribe } from './store.js';

export function navigate(to) {
    if (to === location.pathname + location.search)
        return;
    history.pushState(null, '', to);
    dispatchEvent(new PopStateEvent('popstate'));
}

export function usePath() {
    const [path, setPath] = useState(location.pathname);
    useEffect(() => {
        const follow = () => {
            setPath(location.pathname);
            window.scrollTo(0, 0);
        };
        addEventListener('popstate', follow);
        return () => removeEventListener('popstate', follow);
    }, []);
    return path;
}

export function Link({ href, children, ...rest }) {
    const click = event => {
        if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey)
            return;
        event.preventDefault();
        navigate(href);
    };
    return html`<a href=${href} onClick=${click} ...${rest}>${children}</a>`;
}

// Re-renders the calling component whenever the store changes.
export function useStore() {
    const [, setVersion] = useState(0);
    useEffect(() => subscribe(() => setVersion(v => v + 1)), []);
    return state;
}

// Re-renders every `ms` (countdowns, the clock).
export function useTicker(ms) {
    const [, setBeat] = useState(0);
    useEffect(() => {
        const timer = setInterval(() => setBeat(b => b + 1), ms);
        return () => clearInterval(timer);
    }, [ms]);
}

export function Toasts() {
    return html`
        <div class="toasts" role="status" aria-live="polite">
            ${state.toasts.map(t => html`
                <div class=${`toast toast-${t.kind}`} key=${t.id} data-kind=${t.kind}>
                    <span>${t.text}</span>
                    <button type="button" class="toast-close" aria-label="Dismiss" onClick=${() => dismissToast(t.id)}>
                        ×</button>
                </div>`)}
        </div>`;
}

export function ConnectionBadge() {
    const c = state.connection;
    const text = c.state === 'live' ? 'live'
        : c.state === 'reconnecting' ? `reconnecting in ${duration(c.retryIn)}`
        : c.state === 'refused' ? 'stream refused' : c.state === 'connecting' ? 'connecting…' : 'offline';
    return html`<span class=${`badge connection connection-${c.state}`} title=${c.error || ''}
                      data-state=${c.state}>${text}</span>`;
}

export function Empty({ children }) {
    return html`<p class="empty">${children}</p>`;
}

export function ErrorNote({ children }) {
    return html`<p class="error-note" role="alert">${children}</p>`;
}
