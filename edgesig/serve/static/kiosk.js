// The kiosk: a camera snapshot (getUserMedia) or an uploaded photo, the sheet and signature box
// the SDK found drawn over it, then verify_image with its explanation heatmap.
import { $, api, el, loadUsers, show, showResult } from '/static/common.js';

const MAX_SIDE = 1600;        // photos are scaled down to this before sending (the SDK needs ~900 px)
const photo = $('photo');
let current = null;           // data URL of the photo on screen
let kept = [];                // data URLs kept for enrolment
let limits = { min_references: 3, max_references: 20 };

async function guarded(fn) {
  try { show('message', ''); await fn(); } catch (err) { show('message', err.message, 'error'); }
}

function user() {
  const id = $('user').value.trim();
  if (!id) throw new Error('enter the user id first');
  return id;
}

// Draw a source (video or image) scaled to MAX_SIDE; returns its JPEG data URL.
function capture(source, width, height) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  photo.width = Math.round(width * scale);
  photo.height = Math.round(height * scale);
  photo.getContext('2d').drawImage(source, 0, 0, photo.width, photo.height);
  photo.hidden = false;
  return photo.toDataURL('image/jpeg', 0.92);
}

function polygon(ctx, points, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = Math.max(2, photo.width / 300);
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
  ctx.stroke();
}

async function usePhoto(dataUrl) {
  const img = new Image();
  await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = () => reject(new Error('the file is not an image the browser can show')); img.src = dataUrl; });
  photo.dataset.located = '';
  current = capture(img, img.naturalWidth, img.naturalHeight);
  $('result').hidden = true;
  $('explain').hidden = true;
  $('verify').disabled = $('keep').disabled = true;
  const found = await api('/api/image/locate', { image: current });
  const ctx = photo.getContext('2d');
  if (found.sheet) polygon(ctx, found.sheet, '#1f5fbf');
  polygon(ctx, found.box, '#1b9e3b');
  photo.dataset.located = 'yes';
  $('notes').textContent = found.notes.length ? found.notes.join('; ') : 'sheet and signature found';
  $('verify').disabled = $('keep').disabled = false;
}

let stream = null;
$('camera').addEventListener('click', () => guarded(async () => {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error('no camera access here: upload a photo instead');
  stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment', width: { ideal: 1920 } } });
  $('video').srcObject = stream;
  $('video').hidden = false;
  $('snap').disabled = false;
}));
$('snap').addEventListener('click', () => guarded(async () => {
  const video = $('video');
  const url = capture(video, video.videoWidth, video.videoHeight);
  stream.getTracks().forEach((t) => t.stop());
  video.hidden = true;
  $('snap').disabled = true;
  await usePhoto(url);
}));
$('file').addEventListener('change', () => guarded(async () => {
  const file = $('file').files[0];
  if (!file) return;
  const url = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error('could not read the file'));
    reader.readAsDataURL(file);
  });
  await usePhoto(url);
}));

$('verify').addEventListener('click', () => guarded(async () => {
  const start = performance.now();
  const r = await api('/api/image/verify', { user: user(), image: current });
  showResult('result', r, performance.now() - start);
  $('explain').hidden = !r.heatmap;
  if (r.heatmap) $('heatmap').src = r.heatmap;
}));

function renderKept() {
  $('refcount').textContent = kept.length ? `${kept.length} photo${kept.length > 1 ? 's' : ''} kept` : '';
  $('enrol').disabled = kept.length < limits.min_references;
}
$('keep').addEventListener('click', () => { kept.push(current); $('keep').disabled = true; renderKept(); });
$('enrol').addEventListener('click', () => guarded(async () => {
  const report = await api('/api/image/enroll', { user: user(), images: kept });
  const box = $('report');
  box.hidden = false;
  box.replaceChildren(
    el('div', {}, `Enrolled ${report.user_id}: ${report.kept.length} of ${report.n_references} photos kept, consistency ${Math.round(report.consistency * 100)} %.`),
    el('ul', {}, ...report.reasons.map((x) => el('li', {}, x))));
  kept = [];
  renderKept();
}));

async function demoPhoto(genuine) {
  await guarded(async () => {
    const id = $('demo-user').value;
    const { image } = await api('/api/demo/photo', { user: id, genuine });
    $('user').value = id;
    await usePhoto(image);
    show('message', `a photo of a ${genuine ? 'genuine signature' : 'skilled forgery'} of ${id}, newly generated: press Verify`);
  });
}
$('demo-genuine').addEventListener('click', () => demoPhoto(true));
$('demo-forgery').addEventListener('click', () => demoPhoto(false));

guarded(async () => { limits = await loadUsers('users', 'demo', 'demo-user'); });
