// The dashboard page in a real browser: headless Chromium (Debian's
// chromium, driven by playwright-core) loads examples/dashboard/index.html
// from the dashboard server, which publishes deliveries while the test drops
// every connection twice; the page must show and ack every delivery once, in
// order, resuming its session each time.
//   node browser_test.mjs PORT [tls]
// With tls the page is loaded over https:// and connects with wss://
// (Chromium told to accept the throwaway certificate; Node's own requests
// trust it through NODE_EXTRA_CA_CERTS).
import { chromium } from 'playwright-core';

const port = Number(process.argv[2]);
const tls = process.argv[3] === 'tls';
const base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
let failures = 0;
function check(condition, what) {
  if (!condition) { failures += 1; console.error(`FAIL: ${what}`); } else { console.log(`ok: ${what}`); }
}
const control = async (path) => (await fetch(`${base}/control/${path}`)).json();
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

const browser = await chromium.launch({
  executablePath: process.env.COURIER_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new', ...(tls ? ['--ignore-certificate-errors'] : [])],
});
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: tls });
  page.on('console', (message) => console.log(`page: ${message.text()}`));
  page.on('pageerror', (error) => { failures += 1; console.error(`FAIL: page error ${error}`); });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.courierState && window.courierState.subscribed, null, { timeout: 10000 });
  check(true, 'the page connected and subscribed');
  if (tls) check(await page.evaluate(() => location.protocol) === 'https:', 'over TLS: the page came by https and connected by wss');

  const count = 600;
  const first = (await control('stats')).published;
  await control(`publish?count=${count}&gap_us=2000`);
  // Drop every connection twice while deliveries flow: the page reconnects and resumes.
  for (const after of [150, 350]) {
    await page.waitForFunction((n) => window.courierState.received.length >= n, after, { timeout: 20000 });
    await control('drop');
  }
  await page.waitForFunction((n) => window.courierState.received.length >= n, count, { timeout: 30000 });
  await sleep(300);  // let the last ack go out
  const state = await page.evaluate(() => ({
    received: window.courierState.received,
    reconnects: window.courierState.reconnects,
    resumed: window.courierState.resumed,
    errors: window.courierState.errors,
  }));
  const expected = Array.from({ length: count }, (_, i) => first + i);
  check(state.received.length === count, `the page showed ${state.received.length} of ${count} deliveries`);
  check(JSON.stringify(state.received) === JSON.stringify(expected), 'each delivery once, in order');
  check(state.reconnects >= 2 && state.resumed >= 2, `reconnected ${state.reconnects} times, resumed ${state.resumed}`);
  check(state.errors.length === 0, `no error frames (${state.errors.join(', ')})`);
  const stats = await control('stats');
  check(stats.unacked === 0, `the server holds nothing unacked (it holds ${stats.unacked})`);

  // The page's own publish: a pickup with a key, and the same again.
  await page.fill('#vendor', 'zeta');
  await page.fill('#parcel', '42');
  await page.click('button');
  await page.waitForFunction(() => document.getElementById('receipt').textContent.startsWith('accepted'), null,
                             { timeout: 10000 });
  await page.click('button');
  await page.waitForFunction(() => document.getElementById('receipt').textContent.startsWith('duplicate'), null,
                             { timeout: 10000 });
  check(true, 'a publish from the page got a receipt, and its retry a duplicate');
  await page.waitForFunction(() => window.courierState.received.includes(42), null, { timeout: 10000 });
  check(true, 'and the pickup came back to the page as a delivery');

  // The pickups queue, live on the page from /metrics: 40 pickups for a
  // driver taking 20 ms each, every fourth failing its first try (10
  // redeliveries), the queue seen deep and then empty.
  // The page reads /metrics every half second: wait for a read taken after
  // the driver acked the page's own pickup.
  const drained = await page.waitForFunction(() => {
    const queue = window.courierState.queue;
    return queue !== null && queue.waiting === 0;
  }, null, { timeout: 15000 }).then(() => true, () => false);
  const before = await page.evaluate(() => window.courierState.queue);
  check(drained && before.waiting === 0, `the page reads the queue, empty (${JSON.stringify(before)})`);
  await control('pickups?count=40');
  await page.waitForFunction((redelivered) => {
    const queue = window.courierState.queue;
    return queue && queue.waiting === 0 && queue.redeliveries >= redelivered;
  }, before.redeliveries + 10, { timeout: 20000 });
  const after = await page.evaluate(() => ({ queue: window.courierState.queue, most: window.courierState.mostWaiting }));
  check(after.queue.redeliveries === before.redeliveries + 10,
        `the page showed ${after.queue.redeliveries - before.redeliveries} redeliveries of 10`);
  check(after.most >= 10, `the page saw the queue ${after.most} deep`);
  check(await page.evaluate(() => document.getElementById('redeliveries').textContent) === String(after.queue.redeliveries),
        'and shows the count');
} finally {
  await browser.close();
}
console.log(failures === 0 ? 'browser: every check held' : `browser: ${failures} failures`);
process.exit(failures === 0 ? 0 : 1);
