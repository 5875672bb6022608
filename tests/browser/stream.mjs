// The dashboard's event stream reader (web/src/stream.js) against a small server of this script's own, in Node (no
// browser needed): events split across writes, comments, the Authorization header, a dropped stream resumed with
// Last-Event-ID, pauses that double while the server fails (1, 2, 4 s) and reset once it answers, and a refused
// key that stops it for good. Prints "ok - ..." lines; exits 1 at the first failure.

import http from 'node:http';

import { openEventStream, parseEventBlock } from '../../web/src/stream.js';

function fail(message) {
    console.log(`not ok - ${message}`);
    process.exit(1);
}

function expect(condition, message) {
    if (!condition)
        fail(message);
}

const block = parseEventBlock('id: 7\nevent: tick\n: a comment\ndata: {"a":\ndata: 1}');
expect(block && block.id === '7' && block.name === 'tick' && block.data === '{"a":\n1}',
       `parseEventBlock: ${JSON.stringify(block)}`);
expect(parseEventBlock(': keepalive') === null, 'a comment alone is no event');
console.log('ok - event blocks: id, event name, multi-line data; comments skipped');

// What each connection gets, in order; the server notes when each came and what it was sent.
const plan = ['events-then-end', 'event-then-end', 'fail', 'fail', 'event-and-stay', 'refuse'];
const arrivals = [];

const server = http.createServer((request, response) => {
    const step = plan[arrivals.length] || 'refuse';
    arrivals.push({ at: Date.now(), lastId: request.headers['last-event-id'], auth: request.headers.authorization });
    if (step === 'fail') {
        response.writeHead(503).end('busy');
        return;
    }
    if (step === 'refuse') {
        response.writeHead(401).end('{"error":"unknown key"}');
        return;
    }
    response.writeHead(200, { 'Content-Type': 'text/event-stream' });
    if (step === 'events-then-end') {
        response.write('retry: 3000\n: connected\n\nid: 1\nevent: tick\ndata: {"n"');
        setTimeout(() => response.end(':1}\n\nid: 2\nevent: clock\r\ndata: {"n":2}\r\n\r\n'), 100);
    } else if (step === 'event-then-end') {
        response.end('id: 3\nevent: tick\ndata: {"n":3}\n\n');
    } else {
        response.write('id: 4\nevent: alert\ndata: {"n":4}\n\n');
        setTimeout(() => response.end(), 300); // then it drops, and the next answer refuses the key
    }
});

await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/api/v1/events`;
const events = [], states = [];
const done = new Promise(resolve => {
    const close = openEventStream(url, 'hydra_test-key', (name, data, id) => events.push({ name, n: data.n, id }),
                                  status => {
                                      states.push(status);
                                      if (status.state === 'refused') {
                                          close();
                                          resolve();
                                      }
                                  });
});
const timer = setTimeout(() => fail(`the reader did not finish: ${JSON.stringify(states)}`), 20000);
await done;
clearTimeout(timer);
server.close();

expect(JSON.stringify(events.map(e => [e.name, e.n, e.id])) ===
       JSON.stringify([['tick', 1, '1'], ['clock', 2, '2'], ['tick', 3, '3'], ['alert', 4, '4']]),
       `events: ${JSON.stringify(events)}`);
expect(arrivals.every(a => a.auth === 'Bearer hydra_test-key'), 'a connection came without the key');
console.log('ok - events arrive in order, split across writes and CRLF lines; the key goes as a bearer token');

const lastIds = arrivals.map(a => a.lastId || '');
expect(JSON.stringify(lastIds) === JSON.stringify(['', '2', '3', '3', '3', '4']), `Last-Event-ID: ${lastIds}`);
console.log('ok - every reconnect resumes with Last-Event-ID of the last event seen');

const gaps = arrivals.slice(1).map((a, i) => (a.at - arrivals[i].at) / 1000);
// 1 s after a stream that was open, doubling with each attempt that fails, 1 s again once one answered
const near = (gap, seconds) => gap >= seconds - 0.1 && gap < seconds + 0.7;
expect(near(gaps[1], 1), `pause after a dropped stream: ${gaps[1]} s`);
expect(near(gaps[2], 2), `pause after the first failure: ${gaps[2]} s`);
expect(near(gaps[3], 4), `pause after the second failure: ${gaps[3]} s`);
expect(near(gaps[4], 1.3), `pause once the server answered again: ${gaps[4]} s`);
const retries = states.filter(s => s.state === 'reconnecting').map(s => s.retryIn);
expect(JSON.stringify(retries) === JSON.stringify([1, 1, 2, 4, 1]), `reconnecting in: ${retries}`);
console.log(`ok - pauses between attempts: ${gaps.map(g => g.toFixed(1)).join(', ')} s (1 s after a drop, ` +
            'doubling while it fails, 1 s again once it answered)');

expect(arrivals.length === plan.length && states[states.length - 1].state === 'refused',
       `a refused key should stop the reader: ${arrivals.length} connections, last state ` +
       `${states[states.length - 1].state}`);
console.log('ok - a refused key (401) stops the reader instead of retrying');
