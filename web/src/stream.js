// The daemon's server-sent events, read with fetch() and a stream reader: EventSource cannot send the Authorization
// header. A dropped stream is opened again after a growing pause (1 s doubling to 30 s), resuming from the last id.

const FIRST_PAUSE_MS = 1000;
const LONGEST_PAUSE_MS = 30000;

// One event block ("id: 3\nevent: tick\ndata: {...}") as {id, name, data}; null for a comment-only block.
export function parseEventBlock(block) {
    let id = null, name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':'))
            continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' '))
            value = value.slice(1);
        if (field === 'id')
            id = value;
        else if (field === 'event')
            name = value;
        else if (field === 'data')
            data.push(value);
    }
    if (data.length === 0)
        return null;
    return { id, name, data: data.join('\n') };
}

// Opens the stream; onEvent(name, json, id) for each event, onStatus({state, retryIn, error}) as the connection
// changes. Returns a function that closes it for good.
export function openEventStream(path, key, onEvent, onStatus) {
    let closed = false, lastId = null, pause = FIRST_PAUSE_MS, controller = null, timer = null;

    async function readOnce() {
        controller = new AbortController();
        const headers = { Authorization: `Bearer ${key}`, Accept: 'text/event-stream' };
        if (lastId !== null)
            headers['Last-Event-ID'] = lastId;
        onStatus({ state: 'connecting' });
        const response = await fetch(path, { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401 || response.status === 403) {
            const fatal = new Error(`the event stream refused the key (HTTP ${response.status})`);
            fatal.fatal = true;
            throw fatal;
        }
        if (!response.ok || !response.body)
            throw new Error(`the event stream answered HTTP ${response.status}`);
        onStatus({ state: 'live' });
        pause = FIRST_PAUSE_MS;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
            const { value, done } = await reader.read();
            if (done)
                throw new Error('the event stream ended');
            buffer += value.replace(/\r\n?/g, '\n');
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
                const event = parseEventBlock(buffer.slice(0, end));
                buffer = buffer.slice(end + 2);
                if (!event)
                    continue;
                if (event.id !== null)
                    lastId = event.id;
                let json;
                try {
                    json = JSON.parse(event.data);
                } catch {
                    continue; // a malformed event is skipped, the stream goes on
                }
                onEvent(event.name, json, event.id);
            }
        }
    }

    async function run() {
        while (!closed) {
            try {
                await readOnce();
            } catch (error) {
                if (closed)
                    return;
                if (error.fatal) {
                    onStatus({ state: 'refused', error: error.message });
                    return;
                }
                onStatus({ state: 'reconnecting', retryIn: pause / 1000, error: error.message });
                await new Promise(resolve => { timer = setTimeout(resolve, pause); });
                pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
            }
        }
    }

    run();
    return () => {
        closed = true;
        clearTimeout(timer);
        if (controller)
            controller.abort();
    };
}
