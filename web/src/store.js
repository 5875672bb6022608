// What the page knows, kept up to date by the event stream: the session, the daemon's clock, each service's recent
// points and latest forecast, recommendations, alerts, the calendar, and the toasts on screen. Components read
// `state` and re-render when `subscribe` tells them something changed (at most once per animation frame).

import { api, encode, keepKey, storedKey, whenUnauthorized } from './api.js';
import { openEventStream } from './stream.js';
import { setTimeZone } from './format.js';

export const HISTORY_SECONDS = 12 * 3600;      // what the overview shows behind now
const KEEP_SECONDS = 3 * 86400;                // points older than this are dropped
const CALENDAR_BEHIND = 2 * 86400, CALENDAR_AHEAD = 3 * 86400;
const TOAST_MS = 8000;

export const state = {
    session: null,          // {tenant, key, scopes}
    signInError: '',
    signingIn: false,
    connection: { state: 'idle' },
    clock: { now: null, speed: 1, receivedAt: 0 },
    services: [],
    series: {},             // service -> Map(ts -> {demand, capacity, ready, desired, anomaly_score})
    forecasts: {},          // service -> latest {start, step, mean[], lower80[], upper80[], lower95[], upper95[]}
    oneStepForecasts: {},   // service -> Map(ts -> {mean, lower80, upper80}): the first step of each forecast
    recommendations: new Map(),
    forecastAtPeak: {},     // recommendation id -> {mean, lower80, upper80, upper95, made}: the forecast it came from
    alerts: [],
    calendar: null,         // {location, days} or {error}
    calendarRange: null,
    toasts: [],
    streamed: {},           // service -> demand points the stream brought since signing in
};

const listeners = new Set();
let frameRequested = false;

export function subscribe(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
}

export function changed() {
    if (frameRequested)
        return;
    frameRequested = true;
    const flush = () => {
        frameRequested = false;
        for (const listener of listeners)
            listener();
    };
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible')
        requestAnimationFrame(flush);
    else
        setTimeout(flush, 50);
}

export function can(scope) {
    return Boolean(state.session && state.session.scopes.includes(scope));
}

// The daemon's clock now: its last word, carried forward at its speed (in the live demo the clock is virtual).
export function clockNow() {
    const { now, speed, receivedAt } = state.clock;
    if (now === null)
        return Date.now() / 1000;
    return now + ((performance.now() - receivedAt) / 1000) * speed;
}

function setClock(now, speed) {
    state.clock = { now, speed: Number.isFinite(speed) && speed > 0 ? speed : 1, receivedAt: performance.now() };
}

// ## Toasts -----------------------------------------------------------------------------------------------------

let toastNumber = 0;

export function toast(kind, text) {
    const id = ++toastNumber;
    state.toasts = [...state.toasts, { id, kind, text }];
    changed();
    setTimeout(() => dismissToast(id), TOAST_MS);
}

export function dismissToast(id) {
    state.toasts = state.toasts.filter(t => t.id !== id);
    changed();
}

// ## Points and forecasts ---------------------------------------------------------------------------------------

function seriesOf(service) {
    if (!state.series[service])
        state.series[service] = new Map();
    return state.series[service];
}

function mergePoint(service, ts, values) {
    const points = seriesOf(service);
    points.set(ts, { ...(points.get(ts) || {}), ...values });
}

function dropOld(service, now) {
    const points = seriesOf(service);
    for (const ts of points.keys())
        if (ts < now - KEEP_SECONDS)
            points.delete(ts);
    const steps = state.oneStepForecasts[service];
    if (steps)
        for (const ts of steps.keys())
            if (ts < now - KEEP_SECONDS)
                steps.delete(ts);
}

// Points of a service in time order: [{ts, demand, capacity, ready, desired, anomaly_score}].
export function pointsOf(service) {
    return [...seriesOf(service).entries()].sort((a, b) => a[0] - b[0]).map(([ts, p]) => ({ ts, ...p }));
}

function keepFirstStep(service, forecast) {
    if (!forecast || !forecast.mean || forecast.mean.length === 0)
        return;
    if (!state.oneStepForecasts[service])
        state.oneStepForecasts[service] = new Map();
    state.oneStepForecasts[service].set(forecast.start, {
        mean: forecast.mean[0], lower80: forecast.lower80 && forecast.lower80[0],
        upper80: forecast.upper80 && forecast.upper80[0],
    });
}

// How the one-step forecasts seen so far compare with what came: mean absolute error, MAPE and how often the
// actual fell inside the 80 % interval. null before any forecast met its actual.
export function accuracyOf(service) {
    const steps = state.oneStepForecasts[service], points = seriesOf(service);
    if (!steps)
        return null;
    let count = 0, absolute = 0, relative = 0, relativeCount = 0, inside = 0;
    for (const [ts, f] of steps) {
        const point = points.get(ts);
        if (!point || !Number.isFinite(point.demand) || !Number.isFinite(f.mean))
            continue;
        const error = Math.abs(point.demand - f.mean);
        count++;
        absolute += error;
        if (point.demand > 0) {
            relative += error / point.demand;
            relativeCount++;
        }
        if (point.demand >= f.lower80 && point.demand <= f.upper80)
            inside++;
    }
    if (count === 0)
        return null;
    return { count, mae: absolute / count, mape: relativeCount ? relative / relativeCount : NaN,
             coverage80: inside / count };
}

// Forecasts from the stream and from GET /forecasts/{service} arrive in two shapes; this is the stream's.
function forecastFromPoints(answer) {
    const points = answer.points || [];
    const pick = name => points.map(p => p[name]);
    return { start: points.length ? points[0].ts : NaN, step: answer.step, mean: pick('mean'),
             lower80: pick('lower80'), upper80: pick('upper80'), lower95: pick('lower95'), upper95: pick('upper95') };
}

// The forecast a recommendation was made from is the one its tick publishes right after it: keep its numbers at
// the peak. A recommendation first seen later gets the latest forecast's numbers there, marked as such.
function noteForecastAtPeak(rec, forecast, fromItsTick) {
    if (state.forecastAtPeak[rec.id] && state.forecastAtPeak[rec.id].fromItsTick)
        return;
    if (!forecast || !forecast.mean || !Number.isFinite(rec.forecast_peak_at))
        return;
    const i = Math.round((rec.forecast_peak_at - forecast.start) / forecast.step);
    if (i < 0 || i >= forecast.mean.length || !Number.isFinite(forecast.mean[i]))
        return;
    state.forecastAtPeak[rec.id] = { mean: forecast.mean[i], lower80: forecast.lower80[i],
                                     upper80: forecast.upper80[i], upper95: forecast.upper95 && forecast.upper95[i],
                                     fromItsTick };
}

function applyTick(tick) {
    const name = tick.service;
    for (const rec of state.recommendations.values())
        if (rec.target === name && rec.state === 'pending')
            noteForecastAtPeak(rec, tick.forecast, Math.abs(tick.at - rec.created_at) < 1e-3 + (tick.forecast
                ? tick.forecast.step : 0));
    if (Number.isFinite(tick.demand))
        state.streamed[name] = (state.streamed[name] || 0) + 1;
    mergePoint(name, tick.at, { demand: tick.demand, capacity: tick.capacity, ready: tick.ready_replicas,
                                desired: tick.desired_replicas, anomaly_score: tick.anomaly_score });
    if (tick.forecast && tick.forecast.mean) {
        state.forecasts[name] = tick.forecast;
        keepFirstStep(name, tick.forecast);
    }
    const service = state.services.find(s => s.name === name);
    if (service) {
        service.ready = tick.ready_replicas;
        service.desired = tick.desired_replicas;
        service.load = tick.demand;
        if (tick.forecast && tick.forecast.mean && tick.forecast.mean.length)
            service.forecast = Math.max(...tick.forecast.mean.filter(Number.isFinite));
    }
    if (state.clock.now === null || tick.at > clockNow())
        setClock(tick.at, state.clock.speed);
    dropOld(name, tick.at);
}

// ## Recommendations and alerts ---------------------------------------------------------------------------------

const FINISHED = new Set(['executed', 'failed']);
const announced = new Set();

// A toast when an action ends, once per recommendation whichever says it first: the stream or the decision's answer.
// Actions a person decided, and every failure: what the policy did on its own is listed, not announced.
function announceFinish(rec) {
    if (!FINISHED.has(rec.state) || announced.has(rec.id) || (rec.state === 'executed' && !rec.asked))
        return;
    announced.add(rec.id);
    const change = `${rec.target}: ${rec.from_replicas} → ${rec.to_replicas} replicas`;
    if (rec.state === 'executed')
        toast('success', `Executed — ${change}${rec.dry_run ? ' (dry run)' : ''}.`);
    else
        toast('error', `Failed — ${change}: ${rec.result || 'no reason given'}`);
}

function applyRecommendation(rec, fromStream) {
    const before = state.recommendations.get(rec.id);
    // A list item has no events: keep the ones already known.
    const merged = before && !rec.events ? { ...rec, events: before.events } : rec;
    state.recommendations.set(rec.id, merged);
    if (!before && !fromStream)
        noteForecastAtPeak(merged, state.forecasts[merged.target], false);
    if (fromStream)
        announceFinish(merged);
}

export function recommendationsSorted() {
    return [...state.recommendations.values()].sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
}

async function loadRecommendationEvents(id) {
    try {
        const full = await api(`/api/v1/recommendations/${encode(id)}`);
        applyRecommendation(full, false);
        changed();
    } catch {
        // the card shows without the policy's words
    }
}

function applyAlert(alert) {
    if (state.alerts.some(a => a.id === alert.id))
        state.alerts = state.alerts.map(a => (a.id === alert.id ? alert : a));
    else
        state.alerts = [alert, ...state.alerts].sort((a, b) => b.at - a.at);
}

export async function decide(id, approve, reason) {
    const body = reason ? { reason } : {};
    const answer = await api(`/api/v1/recommendations/${encode(id)}/${approve ? 'approve' : 'reject'}`,
                             { method: 'POST', body });
    const rec = state.recommendations.get(id);
    // The stream may have told of later states already; the answer only moves a card still shown as pending.
    if (rec && rec.state === 'pending') {
        const decided = { ...rec, state: answer.state, decided_by: state.session.key,
                          decision_reason: reason || (approve ? 'approved' : 'rejected') };
        applyRecommendation(decided, false);
        announceFinish(decided);
        changed();
    }
    loadRecommendationEvents(id);
    return answer;
}

// ## Loading and the stream -------------------------------------------------------------------------------------

async function loadServices() {
    const answer = await api('/api/v1/services');
    state.services = answer.services;
    changed();
}

async function loadHistory(now) {
    await Promise.all(state.services.map(async service => {
        try {
            const answer = await api(`/api/v1/metrics/live?service=${encode(service.name)}` +
                                     `&metric=${encode(service.metric)}&since=${Math.floor(now - HISTORY_SECONDS)}`);
            for (const sample of answer.samples)
                mergePoint(service.name, sample.ts, { demand: sample.value, ...(seriesOf(service.name).get(sample.ts)
                                                                                   || {}) });
        } catch {
            // the stream fills the chart from now on
        }
        if (state.forecasts[service.name])
            return;
        try {
            state.forecasts[service.name] = forecastFromPoints(await api(`/api/v1/forecasts/${encode(service.name)}`));
        } catch {
            // 503 until the forecaster has enough history: the first tick brings one
        }
    }));
    changed();
}

async function loadRecommendations() {
    const answer = await api('/api/v1/recommendations');
    for (const rec of answer.recommendations)
        applyRecommendation(rec, false);
    changed();
    for (const rec of answer.recommendations)
        if (rec.state === 'pending')
            loadRecommendationEvents(rec.id);
}

async function loadAlerts(now) {
    const answer = await api(`/api/v1/alerts?since=${Math.floor(now - 7 * 86400)}`);
    for (const alert of answer.alerts)
        applyAlert(alert);
    changed();
}

let calendarLoading = false;

// The calendar around now, again whenever the (virtual) clock nears the end of what was loaded.
export async function ensureCalendar(now) {
    const range = state.calendarRange;
    if (calendarLoading || (state.calendar && state.calendar.error && range) ||
        (range && now - HISTORY_SECONDS > range.from && now + 86400 < range.to))
        return;
    calendarLoading = true;
    const from = Math.floor(now - CALENDAR_BEHIND), to = Math.floor(now + CALENDAR_AHEAD);
    try {
        state.calendar = await api(`/api/v1/calendar?from=${from}&to=${to}`);
        if (state.calendar.location)
            setTimeZone(state.calendar.location);
    } catch (error) {
        state.calendar = { error: error.message, status: error.status };
    } finally {
        state.calendarRange = { from, to };
        calendarLoading = false;
        changed();
    }
}

let closeStream = null, historyLoaded = false, fallbackTimer = null;

function onEvent(name, data) {
    if (name === 'tick') {
        applyTick(data);
    } else if (name === 'recommendation') {
        applyRecommendation(data, true);
    } else if (name === 'alert') {
        applyAlert(data);
    } else if (name === 'clock') {
        setClock(data.now, data.speed);
    }
    if (!historyLoaded && (name === 'clock' || name === 'tick'))
        firstClock();
    if (name === 'clock' || name === 'tick')
        ensureCalendar(clockNow());
    changed();
}

// History and alerts are asked for from the daemon's now, known from its first clock (or tick) event.
function firstClock() {
    if (historyLoaded)
        return;
    historyLoaded = true;
    clearTimeout(fallbackTimer);
    const now = clockNow();
    loadServices().then(() => loadHistory(now)).catch(reportLoadError);
    loadAlerts(now).catch(reportLoadError);
    ensureCalendar(now);
}

function reportLoadError(error) {
    toast('error', error.message);
}

function start() {
    historyLoaded = false;
    loadServices().catch(reportLoadError);
    loadRecommendations().catch(reportLoadError);
    closeStream = openEventStream('/api/v1/events', storedKey(), onEvent, status => {
        state.connection = status;
        changed();
        if (status.state === 'refused') // the key was revoked while the page was open
            signOut(`Signed out: ${status.error}`);
    });
    // A daemon that sends no clock event in a while: its clock is taken to be the wall clock.
    fallbackTimer = setTimeout(firstClock, 4000);
}

function stop() {
    if (closeStream)
        closeStream();
    closeStream = null;
    clearTimeout(fallbackTimer);
    state.series = {};
    state.forecasts = {};
    state.oneStepForecasts = {};
    state.recommendations = new Map();
    state.forecastAtPeak = {};
    state.streamed = {};
    state.alerts = [];
    state.services = [];
    state.calendar = null;
    state.calendarRange = null;
    state.connection = { state: 'idle' };
    state.clock = { now: null, speed: 1, receivedAt: 0 };
}

// ## Signing in and out -----------------------------------------------------------------------------------------

export async function signIn(key) {
    state.signInError = '';
    state.signingIn = true;
    changed();
    try {
        const session = await api('/api/v1/session', { key });
        keepKey(key);
        state.session = session;
        start();
    } catch (error) {
        state.signInError = error.status === 401 ? 'That key is not valid (unknown or revoked).' : error.message;
    }
    state.signingIn = false;
    changed();
}

export function signOut(reason) {
    stop();
    keepKey('');
    state.session = null;
    state.signInError = reason || '';
    changed();
}

whenUnauthorized(message => signOut(`Signed out: ${message}`));

// A tab that reloads keeps its key (sessionStorage) and signs in again by itself.
export function resume() {
    const key = storedKey();
    if (key)
        signIn(key);
}
