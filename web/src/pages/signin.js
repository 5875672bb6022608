// Signing in: an API key made with `hydra keys create`; read scope to look, approve scope to decide.

import { html } from '../html.js';
import { useState } from 'preact/hooks';

import { signIn, state } from '../store.js';

export function SignIn() {
    const [key, setKey] = useState('');
    const submit = event => {
        event.preventDefault();
        if (key.trim())
            signIn(key.trim());
    };
    return html`
        <main class="signin">
            <form class="card signin-card" onSubmit=${submit} aria-labelledby="signin-title">
                <h1 id="signin-title">hydra</h1>
                <p>Sign in with an API key. A key with the <code>read</code> scope shows what hydra sees; one with
                   <code>approve</code> can also approve and reject its recommendations.</p>
                <label for="api-key">API key</label>
                <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck="false"
                       placeholder="hydra_…" value=${key} onInput=${e => setKey(e.currentTarget.value)}
                       aria-describedby="signin-help" required />
                <p id="signin-help" class="hint">Make one with <code>hydra keys create --tenant T --name N --scopes
                   read,approve</code>. It is kept in this tab only (sessionStorage) and sent as a bearer token.</p>
                ${state.signInError ? html`<p class="error-note" role="alert">${state.signInError}</p>` : ''}
                <button type="submit" class="primary" disabled=${state.signingIn}>
                    ${state.signingIn ? 'Signing in…' : 'Sign in'}</button>
            </form>
        </main>`;
}
