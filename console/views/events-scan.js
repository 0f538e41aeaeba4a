/**
 * Check-in by camera: reads a member's attendance QR code from the device camera. Uses the
 * browser's BarcodeDetector where it has one that reads QR codes (Chrome on Android, macOS,
 * ChromeOS), otherwise jsQR, served by the gateway from the installed package
 * (`/console/vendor/jsqr/jsQR.js`, no CDN) and loaded only when a scan starts. The camera is
 * released as soon as a code is read, the scanner is closed, or the screen is left.
 */
import { h } from '../lib/dom.js';

const JSQR = '/console/vendor/jsqr/jsQR.js';
/** Frames are decoded at most this often (decoding every animation frame would heat a phone). */
const INTERVAL_MS = 150;
/** Frames are scaled down to this width before jsQR reads them. */
const MAX_WIDTH = 640;

let jsqrLoading;
/** jsQR's decode function. Its UMD build sets `window.jsQR` when run, also as a module. */
function loadJsQr() {
  jsqrLoading ??= import(JSQR).then(() => {
    if (typeof window.jsQR !== 'function') throw new Error('The QR decoder could not be loaded.');
    return window.jsQR;
  });
  jsqrLoading.catch(() => {
    jsqrLoading = undefined;
  });
  return jsqrLoading;
}

/** A decoder over the video: BarcodeDetector when it reads QR codes, jsQR otherwise. */
async function makeDecoder(video) {
  const Detector = window.BarcodeDetector;
  if (typeof Detector === 'function') {
    try {
      const formats = await Detector.getSupportedFormats();
      if (formats.includes('qr_code')) {
        const detector = new Detector({ formats: ['qr_code'] });
        return { kind: 'BarcodeDetector', decode: async () => (await detector.detect(video))[0]?.rawValue ?? null };
      }
    } catch {
      // fall through to jsQR
    }
  }
  const jsQR = await loadJsQr();
  const canvas = document.createElement('canvas');
  const g = canvas.getContext('2d', { willReadFrequently: true });
  return {
    kind: 'jsQR',
    decode: async () => {
      if (!video.videoWidth) return null;
      const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      g.drawImage(video, 0, 0, canvas.width, canvas.height);
      const img = g.getImageData(0, 0, canvas.width, canvas.height);
      return jsQR(img.data, img.width, img.height, { inversionAttempts: 'attemptBoth' })?.data || null;
    },
  };
}

/** What to tell the organizer when the camera cannot be opened. */
function cameraProblem(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was refused. Allow the camera for this site, or type or paste the code below.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Type or paste the code below.';
    case 'NotReadableError':
      return 'The camera is in use by another application.';
    default:
      return err?.message || 'The camera could not be opened.';
  }
}

/**
 * A "Scan with the camera" button and its scanner. `onCode(text)` gets the first code read
 * (the camera is closed by then); what it throws is shown. `ctx.onLeave` closes the camera.
 */
export function cameraScanner(ctx, { label, onCode }) {
  const status = h('p', { class: 'muted small', role: 'status' });
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const video = h('video', { class: 'scanner-video', muted: true, playsinline: true, autoplay: true, 'aria-label': 'Camera view' });
  video.muted = true;
  const stopButton = h('button', { type: 'button', class: 'secondary', text: 'Stop scanning' });
  const viewer = h('div', { class: 'scanner', hidden: true }, video, h('div', { class: 'actions' }, stopButton));
  const startButton = h('button', { type: 'button', text: 'Scan with the camera' });
  let stream = null;
  let timer = null;

  const stop = () => {
    clearTimeout(timer);
    timer = null;
    for (const t of stream?.getTracks() ?? []) t.stop();
    stream = null;
    video.srcObject = null;
    viewer.hidden = true;
    startButton.hidden = false;
  };
  ctx.onLeave(stop);

  const fail = (message) => {
    alert.textContent = message;
    alert.hidden = false;
  };

  const start = async () => {
    alert.hidden = true;
    if (!navigator.mediaDevices?.getUserMedia) {
      fail('This browser cannot open the camera here (it needs HTTPS). Type or paste the code below.');
      return;
    }
    startButton.disabled = true;
    status.textContent = 'Opening the camera…';
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: 'environment' } }, audio: false });
      video.srcObject = stream;
      await video.play();
      const decoder = await makeDecoder(video);
      if (!stream) return; // stopped meanwhile
      viewer.hidden = false;
      startButton.hidden = true;
      status.textContent = `Point the camera at the member’s QR code (${label}).`;
      const tick = async () => {
        if (!stream) return;
        // a frame that cannot be read counts as no code: the next one is tried
        const code = await decoder.decode().catch(() => null);
        if (!stream) return;
        if (!code) {
          timer = setTimeout(tick, INTERVAL_MS);
          return;
        }
        stop();
        status.textContent = 'Code read.';
        try {
          await onCode(code.trim());
        } catch (err) {
          fail(err?.detail ?? err?.message ?? String(err));
        }
      };
      timer = setTimeout(tick, 0);
    } catch (err) {
      stop();
      status.textContent = '';
      fail(cameraProblem(err));
    } finally {
      startButton.disabled = false;
    }
  };

  startButton.addEventListener('click', () => void start());
  stopButton.addEventListener('click', () => {
    stop();
    status.textContent = 'Scanning stopped.';
  });
  return { element: h('div', { class: 'scan' }, h('div', { class: 'actions' }, startButton), viewer, status, alert), stop };
}
