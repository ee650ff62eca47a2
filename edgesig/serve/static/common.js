// Shared by the three pages: the CSRF-carrying API call, messages, user lists.
const csrf = document.querySelector('meta[name="csrf-token"]').content;

export class ApiError extends Error {
  constructor(message, status, type) { super(message); this.status = status; this.type = type; }
}

// GET without a body, POST with one; every call carries the page's CSRF token.
export async function api(path, body) {
  const init = { method: body === undefined ? 'GET' : 'POST', credentials: 'same-origin',
                 headers: { 'x-csrf-token': csrf } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data;
  try { data = await response.json(); } catch { data = { error: `${response.status} ${response.statusText}` }; }
  if (!response.ok) throw new ApiError(data.error || response.statusText, response.status, data.type);
  return data;
}

export const $ = (id) => document.getElementById(id);

export function show(id, text, kind = 'info') {
  const el = $(id);
  el.textContent = text;
  el.className = `message ${kind}`;
  el.hidden = !text;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// Fill the <datalist> of user ids and the demo-user <select>; hide the demo box without demo users.
export async function loadUsers(datalistId, demoBoxId, demoSelectId) {
  const [users, info] = await Promise.all([api('/api/users'), api('/api/info')]);
  $(datalistId).replaceChildren(...users.map((u) => el('option', { value: u.user })));
  $(demoBoxId).hidden = info.demo.length === 0;
  $(demoSelectId).replaceChildren(...info.demo.map((u) => el('option', { value: u }, u)));
  return info;
}

// The decision panel both capture pages show.
export function showResult(id, r, roundTripMs) {
  const box = $(id);
  box.hidden = false;
  box.className = `result ${r.accepted ? 'accepted' : 'rejected'}`;
  box.replaceChildren(
    el('div', { class: 'decision', 'data-decision': r.accepted ? 'accepted' : 'rejected' },
      r.accepted ? 'ACCEPTED' : 'REJECTED'),
    el('div', {}, `score ${r.score.toFixed(3)} (threshold ${r.threshold.toFixed(3)}), engine ${r.engine}`),
    el('div', { class: 'latency' }, `verification ${r.latency_ms.toFixed(1)} ms, round trip ${roundTripMs.toFixed(0)} ms`),
    el('ul', {}, ...r.reasons.map((x) => el('li', {}, x))));
}
