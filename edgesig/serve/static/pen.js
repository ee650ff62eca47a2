// The signing pad: records W3C Pointer Events (coalesced samples at the device rate, pressure,
// tilt, orientation) in the JSON format edgesig.capture.pointer_events reads, and draws the ink.
import { $, api, el, loadUsers, show, showResult } from '/static/common.js';

const pad = $('pad');
const ctx = pad.getContext('2d');
let events = [];          // the current drawing, as recorded
let refs = [];            // kept drawings for enrolment: { events, redo }
let limits = { min_references: 3, max_references: 20 };

function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  canvas.getContext('2d').setTransform(ratio, 0, 0, ratio, 0, 0);
}

const round = (v) => Math.round(v * 100) / 100;

// One sample: position relative to the pad (CSS px), pressure, tilt, orientation, time (ms).
function sample(e, rect) {
  const s = { offsetX: round(e.clientX - rect.left), offsetY: round(e.clientY - rect.top),
              pressure: e.pressure, tiltX: e.tiltX || 0, tiltY: e.tiltY || 0, timeStamp: e.timeStamp };
  if (typeof e.altitudeAngle === 'number' && typeof e.azimuthAngle === 'number') {
    s.altitudeAngle = e.altitudeAngle;
    s.azimuthAngle = e.azimuthAngle;
  }
  return s;
}

function record(e) {
  const rect = pad.getBoundingClientRect();
  const ev = { type: e.type, pointerType: e.pointerType, pointerId: e.pointerId, isPrimary: e.isPrimary,
               buttons: e.buttons, ...sample(e, rect) };
  if (e.type === 'pointermove' && e.getCoalescedEvents) {
    const coalesced = e.getCoalescedEvents();
    if (coalesced.length > 1) ev.coalesced = coalesced.map((c) => sample(c, rect));
  }
  events.push(ev);
  return ev;
}

// Expanded samples with pen state, as the reader sees them.
function samples(recording) {
  const out = [];
  let down = false;
  for (const ev of recording) {
    if (ev.type === 'pointerdown') down = true;
    const parts = ev.coalesced ? [...ev.coalesced.map((c) => ({ ...ev, ...c })), ev] : [ev];
    for (const p of parts) out.push({ x: p.offsetX, y: p.offsetY, p: p.pressure, down, kind: ev.pointerType });
    if (ev.type === 'pointerup' || ev.type === 'pointercancel') down = false;
  }
  return out;
}

function drawInk(context, points, scale = 1, dx = 0, dy = 0) {
  context.lineCap = 'round';
  context.strokeStyle = '#14213d';
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1], b = points[i];
    if (!a.down || !b.down) continue;
    context.lineWidth = (b.kind === 'pen' ? 0.8 + 3.2 * b.p : 2.2) * Math.max(scale, 0.35);
    context.beginPath();
    context.moveTo(a.x * scale + dx, a.y * scale + dy);
    context.lineTo(b.x * scale + dx, b.y * scale + dy);
    context.stroke();
  }
}

function redraw() {
  ctx.clearRect(0, 0, pad.width, pad.height);
  drawInk(ctx, samples(events));
}

let drawing = false;
pad.addEventListener('pointerdown', (e) => {
  if (!e.isPrimary) return;
  pad.setPointerCapture(e.pointerId);
  drawing = true;
  record(e);
  $('device').textContent = `${e.pointerType}${e.pointerType === 'pen' ? ', pressure ' + e.pressure.toFixed(2) : ''}`;
});
pad.addEventListener('pointermove', (e) => {
  if (!e.isPrimary || events.length === 0) return;   // hover before the first touch is not recorded
  const before = samples(events.slice(-1)).slice(-1)[0];
  const ev = record(e);
  if (!drawing) return;
  const pts = samples([{ ...ev, type: 'pointermove' }]).map((p) => ({ ...p, down: true }));
  drawInk(ctx, [{ ...before, down: true }, ...pts]);
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, (e) => { if (e.isPrimary && drawing) { drawing = false; record(e); } });
}

// The recording to send: everything up to the last pen lift.
function recording() {
  let last = events.length - 1;
  while (last >= 0 && events[last].type !== 'pointerup') last--;
  if (last < 0) throw new Error('draw a signature first');
  return { events: events.slice(0, last + 1) };
}

function clearPad() { events = []; drawing = false; redraw(); }

function thumbnail(recording, redo, index) {
  const canvas = el('canvas', { width: 300, height: 120 });
  const c = canvas.getContext('2d');
  const pts = samples(recording.events).filter((p) => p.down);
  const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min(280 / Math.max(x1 - x0, 1), 100 / Math.max(y1 - y0, 1));
  drawInk(c, samples(recording.events), scale, 10 - x0 * scale, 10 - y0 * scale);
  const remove = el('button', { title: 'remove this reference', onclick: () => { refs.splice(index, 1); renderRefs(); } }, '×');
  return el('div', { class: `ref${redo ? ' redo' : ''}`, 'data-index': index }, canvas, el('span', {}, `#${index}${redo ? ' redo' : ''}`), remove);
}

function renderRefs() {
  $('refs').replaceChildren(...refs.map((r, i) => thumbnail(r, r.redo, i)));
  $('refcount').textContent = `${refs.length} kept (${limits.min_references}–${limits.max_references}, 5 is good)`;
  $('enrol').disabled = refs.length < limits.min_references || refs.length > limits.max_references;
}

function user() {
  const id = $('user').value.trim();
  if (!id) throw new Error('enter the user id first');
  return id;
}

async function guarded(fn) {
  try { show('message', ''); await fn(); } catch (err) { show('message', err.message, 'error'); }
}

function showReport(report) {
  const pct = Math.round(report.consistency * 100);
  const box = $('report');
  box.hidden = false;
  box.replaceChildren(
    el('div', { 'data-enrolled': report.user_id }, `Enrolled ${report.user_id}: ${report.kept.length} of ${report.n_references} references kept (engine ${report.engine}).`),
    el('div', {}, 'consistency ', el('span', { class: 'meter' }, el('div', { style: `width:${pct}%` })), ` ${pct} %`),
    report.redo.length ? el('p', {}, `Redo reference${report.redo.length > 1 ? 's' : ''} ${report.redo.map((i) => '#' + i).join(', ')}: remove ${report.redo.length > 1 ? 'them' : 'it'}, sign again and enrol again.`) : el('p', {}, 'No reference needs redoing.'),
    el('ul', {}, ...report.reasons.map((x) => el('li', {}, x))));
}

$('clear').addEventListener('click', clearPad);
$('keep').addEventListener('click', () => guarded(async () => {
  if (refs.length >= limits.max_references) throw new Error(`at most ${limits.max_references} references`);
  refs.push({ ...recording(), redo: false });
  clearPad();
  renderRefs();
}));
$('enrol').addEventListener('click', () => guarded(async () => {
  const report = await api('/api/pen/enroll', { user: user(), signatures: refs.map((r) => ({ events: r.events })) });
  refs.forEach((r, i) => { r.redo = report.redo.includes(i); });
  renderRefs();
  showReport(report);
  await loadUsers('users', 'demo', 'demo-user');
}));
$('verify').addEventListener('click', () => guarded(async () => {
  const body = { user: user(), signature: recording() };
  const start = performance.now();
  const result = await api('/api/pen/verify', body);
  showResult('result', result, performance.now() - start);
}));

async function demoSample(genuine) {
  await guarded(async () => {
    const id = $('demo-user').value;
    const rec = await api('/api/demo/pen', { user: id, genuine });
    $('user').value = id;
    events = rec.events;
    redraw();
    show('message', `a ${genuine ? 'genuine signature' : 'skilled forgery'} of ${id}, newly generated: press Verify`);
  });
}
$('demo-genuine').addEventListener('click', () => demoSample(true));
$('demo-forgery').addEventListener('click', () => demoSample(false));

window.addEventListener('resize', () => { fitCanvas(pad); redraw(); });
fitCanvas(pad);
renderRefs();
guarded(async () => { limits = await loadUsers('users', 'demo', 'demo-user'); renderRefs(); });
