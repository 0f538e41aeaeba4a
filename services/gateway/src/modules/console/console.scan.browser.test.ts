/**
 * Check-in by camera (issue 12) in headless Chromium at 360 px: Chromium's fake camera plays a
 * Y4M video of a member's real attendance QR code (generated here from the token the users
 * service issues, drawn from the `qrcode` package's module matrix, the library the service
 * renders its QR images with); the organizer lists the member and another one as expected,
 * opens the scanner on the Events screen, and the attendance shows the scanned member present
 * and the other absent. Headless Chromium on Linux has no BarcodeDetector, so this walks the
 * jsQR path (served from the package). No page may log errors, throw or violate the CSP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import QRCode from 'qrcode';
import type { Browser } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../../../../../test/src/system';
import { assertClean, chromiumMissing, eventually, heading, launchChromium, makeUser, openPage, postJson, run, signInUi } from './console.browser.fixtures';

const PHONE = { width: 360, height: 740 };

/**
 * A Y4M video (YUV4MPEG2, 4:2:0) of `text` as a QR code, black on white, centred with its
 * quiet zone: what Chromium's --use-file-for-fake-video-capture plays (in a loop). Written by
 * hand: the format is a one-line header and raw planes, and no package writes it.
 */
function qrY4m(text: string, width = 640, height = 480, frames = 2): Buffer {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const quiet = 4;
  const scale = Math.floor(Math.min(width, height) / (n + 2 * quiet));
  assert.ok(scale >= 2, `a ${n}-module code does not fit ${width}x${height}`);
  const x0 = Math.floor((width - n * scale) / 2);
  const y0 = Math.floor((height - n * scale) / 2);
  const luma = Buffer.alloc(width * height, 235);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (!qr.modules.get(r, c)) continue;
      for (let y = 0; y < scale; y++) luma.fill(16, (y0 + r * scale + y) * width + x0 + c * scale, (y0 + r * scale + y) * width + x0 + (c + 1) * scale);
    }
  }
  const chroma = Buffer.alloc((width / 2) * (height / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), luma, chroma]);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F15:1 Ip A1:1 C420jpeg\n`), ...Array.from({ length: frames }, () => frame)]);
}

describe('console: check-in by scanning a QR code with the camera (fake camera, 360 px)', { skip: chromiumMissing }, () => {
  let system: TestSystem;
  let browser: Browser | undefined;
  const video = path.join(tmpdir(), `gatehouse-qr-${run}-${process.pid}.y4m`);

  before(async () => {
    system = await startTestSystem();
  });
  after(async () => {
    await browser?.close();
    await system?.close();
    await rm(video, { force: true });
  });

  test('the organizer scans a member’s QR code: present; the other expected member: absent', async () => {
    const adminToken = (await postJson<{ accessToken: string }>(system, '/api/v1/auth/login', system.admin)).body.accessToken;
    const [fay, gus] = [makeUser('fay'), makeUser('gus')];
    const members: Array<{ accessToken: string; user: { id: string } }> = [];
    for (const u of [fay, gus]) {
      const reg = await postJson<{ accessToken: string; user: { id: string } }>(system, '/api/v1/auth/register', { email: u.email, password: u.password, username: u.username, displayName: u.displayName });
      assert.equal(reg.status, 201);
      members.push(reg.body);
    }
    const title = `Scan night ${run}`;
    // started five minutes ago: check-in is open, and a check-in now is on time (present)
    const created = await postJson<{ id: string }>(
      system,
      '/api/v1/events',
      { title, startsAt: new Date(Date.now() - 5 * 60_000).toISOString(), endsAt: new Date(Date.now() + 55 * 60_000).toISOString(), lateAfterMinutes: 30 },
      { authorization: `Bearer ${adminToken}` },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));

    // Fay's real QR token (the users service learns of her account by an event: retried)
    let qrToken = '';
    await eventually(async () => {
      const r = await system.fetch('/api/v1/users/me/qr/token', { headers: { authorization: `Bearer ${members[0]!.accessToken}` } });
      assert.equal(r.status, 200);
      qrToken = ((await r.json()) as { token: string }).token;
    });
    await writeFile(video, qrY4m(qrToken));
    browser = await launchChromium(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`]);

    const context = await browser.newContext({ baseURL: system.url, viewport: PHONE, permissions: ['camera'] });
    try {
      const { page, problems } = await openPage(context);
      const vendor: string[] = [];
      page.on('request', (r) => {
        const p = new URL(r.url()).pathname;
        if (p.startsWith('/console/vendor/')) vendor.push(p);
      });
      await page.goto('/');
      await signInUi(page, system.admin.email, system.admin.password);
      await heading(page, 'My account');
      await page.locator('#nav').getByRole('link', { name: 'Events', exact: true }).click();
      await heading(page, 'Events');
      const event = page.locator('li.event').filter({ hasText: title });
      await event.getByText('Attendance', { exact: true }).click();
      await event.getByText('Nobody has checked in yet.').waitFor();

      // both members are expected: the report lists them absent
      await event.getByText('Expected members', { exact: true }).click();
      await event.getByLabel('Expected members (user ids)').fill(members.map((m) => m.user.id).join('\n'));
      await event.getByRole('button', { name: 'Save expected members' }).click();
      const attendance = event.getByRole('list', { name: `Attendance at ${title}` });
      const row = (u: { displayName: string }) => attendance.getByRole('listitem').filter({ hasText: u.displayName });
      await row(fay).getByText('absent', { exact: true }).waitFor();
      await row(gus).getByText('absent', { exact: true }).waitFor();

      // the camera: the fake device plays Fay's code
      await event.getByRole('button', { name: 'Scan with the camera' }).click();
      await page.getByText('Checked in (present).').waitFor({ timeout: 30_000 });
      await row(fay).getByText('present', { exact: true }).waitFor();
      await row(gus).getByText('absent', { exact: true }).waitFor();
      // the camera is released once the code is read (the panel was drawn again, no live video)
      assert.equal(await page.evaluate<number>('[...document.querySelectorAll("video")].filter((v) => v.srcObject).length'), 0);

      const hasDetector = await page.evaluate<boolean>("typeof window.BarcodeDetector === 'function'");
      if (!hasDetector) assert.deepEqual(vendor, ['/console/vendor/jsqr/jsQR.js'], 'no BarcodeDetector here: jsQR from the package');
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
      assert.ok(overflow <= 1, `the events screen is ${overflow}px wider than the 360 px screen`);

      // the API agrees
      const report = (await (await system.fetch(`/api/v1/events/${created.body.id}/attendance`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { items: Array<{ userId: string; status: string }> };
      assert.deepEqual(Object.fromEntries(report.items.map((a) => [a.userId, a.status])), { [members[0]!.user.id]: 'present', [members[1]!.user.id]: 'absent' });
      assertClean(problems);
    } finally {
      await context.close();
    }
  });
});
