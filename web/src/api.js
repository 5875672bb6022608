// Calls to hydra's API with the signed-in key. The key lives in sessionStorage only: it goes with the tab, never to
// disk or to another origin.

const KEY_STORAGE = 'hydra.key';

export class ApiError extends Error {
    constructor(status, message, field) {
        super(message);
        this.status = status;
        this.field = field;
    }
}

export function storedKey() {
    return sessionStorage.getItem(KEY_STORAGE) || '';
}

export function keepKey(key) {
    if (key)
        sessionStorage.setItem(KEY_STORAGE, key);
    else
        sessionStorage.removeItem(KEY_STORAGE);
}

let onUnauthorized = () => {};

// Called when the server stops accepting the key (revoked, or a daemon with a new store): the page signs out.
export function whenUnauthorized(handler) {
    onUnauthorized = handler;
}

// The JSON answer of method path; an ApiError with the server's own message otherwise.
export async function api(path, { method = 'GET', body, key = storedKey(), signal } = {}) {
    const headers = { Accept: 'application/json' };
    if (key)
        headers.Authorization = `Bearer ${key}`;
    if (body !== undefined)
        headers['Content-Type'] = 'application/json';
    let response;
    try {
        response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                       signal });
    } catch (error) {
        if (error.name === 'AbortError')
            throw error;
        throw new ApiError(0, `hydra is unreachable: ${error.message}`);
    }
    const text = await response.text();
    let json = null;
    try {
        json = text ? JSON.parse(text) : null;
    } catch {
        json = null;
    }
    if (!response.ok) {
        const message = (json && json.error) || `${method} ${path}: HTTP ${response.status}`;
        if (response.status === 401 && key === storedKey())
            onUnauthorized(message);
        throw new ApiError(response.status, message, json && json.field);
    }
    return json;
}

export const encode = encodeURIComponent;
