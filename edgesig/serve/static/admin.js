// Users (delete, unlock), the audit log and the installed models' validated figures.
import { $, api, el, show } from '/static/common.js';

const rows = (id, trs) => $(id).querySelector('tbody').replaceChildren(...trs);
// Rates as percentages, AUC as it is, counts and texts unchanged.
const figure = (key, v) => (typeof v !== 'number' ? String(v) : key.endsWith('auc') ? v.toFixed(3)
  : v <= 1 ? `${(v * 100).toFixed(2)} %` : String(v));

async function guarded(fn) {
  try { await fn(); } catch (err) { show('message', err.message, 'error'); }
}

async function act(path, user, done) {
  await guarded(async () => { await api(path, { user }); show('message', done); await refresh(); });
}

async function refresh() {
  const [users, audit, models] = await Promise.all([api('/api/users'), api('/api/audit'), api('/api/models')]);
  rows('users', users.map((u) => el('tr', { 'data-user': u.user },
    el('td', {}, u.user), el('td', {}, u.engines.join(', ')),
    el('td', {}, u.locked_s ? `locked out (${u.locked_s} s left)` : 'active'),
    el('td', {},
      u.locked_s ? el('button', { onclick: () => act('/api/users/unlock', u.user, `unlocked ${u.user}`) }, 'Unlock') : '',
      el('button', { class: 'delete', onclick: () => { if (confirm(`Delete every template of ${u.user}?`)) act('/api/users/delete', u.user, `deleted ${u.user}`); } }, 'Delete')))));
  rows('audit', audit.map((e) => el('tr', { 'data-event': e.event },
    el('td', {}, e.time), el('td', {}, e.event), el('td', {}, el('code', {}, (e.user || '').slice(0, 12))),
    el('td', {}, e.decision || (e.accepted === undefined ? '' : e.accepted ? 'accepted' : 'rejected')),
    el('td', { class: 'num' }, typeof e.score === 'number' ? e.score.toFixed(3) : ''),
    el('td', {}, (e.reasons || []).concat(e.error ? [e.error] : []).join('; ')))));
  rows('models', models.map((m) => el('tr', {},
    el('td', {}, m.name), el('td', {}, m.version), el('td', {}, m.modality), el('td', {}, m.in_use ? 'yes' : ''),
    el('td', {}, ...Object.entries(m.figures).map(([k, v]) => el('div', {}, el('code', {}, k), ' ', figure(k, v)))))));
}

guarded(refresh);
