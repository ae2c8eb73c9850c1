// Headless Chromium as a test client: Debian's `chromium` driven by
// playwright-core (no browser download), one browser per test file. The page
// it opens carries test/helpers/browser-page.js, whose window.corewsTest runs
// WebSocket conversations; Node loads the same file for the expected payloads.
import { spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium as playwrightChromium, type Browser, type BrowserServer, type Page } from 'playwright-core';

const PAGE_SCRIPT = fs.readFileSync(path.join(__dirname, 'browser-page.js'), 'utf8');

/** The page every browser test opens: the client script, nothing else. */
export const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>corews browser test</title><link rel="icon" href="data:,"></head>
<body><script>
${PAGE_SCRIPT}
</script></body></html>
`;

/** The page's own payload generator, run in Node: the same bytes from (kind, size, seed). */
export const payloadBytes: (kind: 'text' | 'binary' | 'json' | 'zeros', size: number, seed: number) => Uint8Array = (() => {
  const mod = { exports: {} as { payloadBytes?: (kind: string, size: number, seed: number) => Uint8Array } };
  new Function('module', PAGE_SCRIPT)(mod);
  return mod.exports.payloadBytes!;
})();

export function sha256Hex(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/**
 * Where Chromium is: $CHROMIUM, else `chromium` (Debian) or `chromium-browser`
 * on PATH. Throws when there is none: these tests are meant to run, and CI
 * installs it (.ci/run).
 */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM;
  if (fromEnv) return fromEnv;
  const found = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' });
  const bin = found.stdout.trim().split('\n')[0];
  if (found.status !== 0 || !bin) {
    throw new Error('Chromium is not installed: the browser tests need it (Debian: apt-get install chromium; or set CHROMIUM to its path)');
  }
  return bin;
}

/**
 * The value for --ignore-certificate-errors-spki-list: base64 of the SHA-256
 * of the certificate's SubjectPublicKeyInfo (DER).
 */
export function spkiHash(certPem: string): string {
  const spki = new crypto.X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

export interface Chromium {
  browser: Browser;
  /** The browser process this helper started (spawned as the leader of its own process group). */
  process: ChildProcess;
  /** Opens a page at `url` and waits for the client script; console output and page errors go to `log`. */
  open(url: string): Promise<Page>;
  /** Closes the browser this helper started; kills it (its process group) if it does not exit in 5 s. */
  close(): Promise<void>;
  /** What the pages printed and threw, for failure messages. */
  log: string[];
}

export interface LaunchOptions {
  /**
   * Certificates whose keys the browser accepts although no CA it knows
   * signed them: their SPKI hashes go to --ignore-certificate-errors-spki-list,
   * so every other certificate is still checked (and a test certificate with
   * another key is refused). Chromium honours that flag only together with
   * --user-data-dir, which playwright always passes (a temporary profile).
   */
  trustCerts?: string[];
}

/** Starts headless Chromium; call close() when done (afterAll). */
export async function launchChromium(options: LaunchOptions = {}): Promise<Chromium> {
  const args = ['--disable-dev-shm-usage'];
  if (options.trustCerts && options.trustCerts.length > 0) {
    args.push(`--ignore-certificate-errors-spki-list=${options.trustCerts.map(spkiHash).join(',')}`);
  }
  // launchServer, not launch: its handle has the process. chromiumSandbox stays
  // false (--no-sandbox): the sandbox needs user namespaces, which root in a
  // container usually lacks, and these pages are our own.
  const server: BrowserServer = await playwrightChromium.launchServer({
    executablePath: chromiumPath(),
    headless: true,
    args,
    timeout: 20_000,
  });
  const proc = server.process();
  let browser: Browser;
  try {
    // The endpoint is on 127.0.0.1 (playwright's own server, in this process).
    browser = await playwrightChromium.connect(server.wsEndpoint(), { timeout: 20_000 });
  } catch (err) {
    await server.kill();
    throw err;
  }
  const log: string[] = [];
  return {
    browser,
    process: proc,
    log,
    async open(url: string): Promise<Page> {
      const page = await browser.newPage();
      page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => log.push(`page error: ${e.message}`));
      const res = await page.goto(url, { timeout: 10_000 });
      if (!res || !res.ok()) throw new Error(`${url}: HTTP ${res?.status()}`);
      await page.waitForFunction('typeof window.corewsTest === "object"', undefined, { timeout: 5_000 });
      return page;
    },
    async close(): Promise<void> {
      const exited = new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) resolve();
        else proc.once('exit', () => resolve());
      });
      // Not gone in 5 s: kill() ends the process group it spawned, nothing else.
      const timer = setTimeout(() => void server.kill(), 5_000);
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs `corewsTest[fn](arg)` in the page and returns its result. The call goes
 * as a string, so nothing of this file's compiled code has to run in the page.
 */
export function runInPage<T>(page: Page, fn: string, arg: unknown): Promise<T> {
  return page.evaluate(`window.corewsTest.${fn}(${JSON.stringify(arg)})`) as Promise<T>;
}

export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

export interface EchoResult {
  protocol: string;
  extensions: string;
  /** Per step; `ms`: time the page spent making the payload, on the round trip, and checking the echo. */
  results: { sent: string; got: string; gotKind: 'text' | 'binary'; gotSize: number; ms: { make: number; roundTrip: number; check: number } }[];
  close: CloseInfo;
}

export interface CollectResult {
  protocol: string;
  extensions: string;
  messages: { kind: 'text' | 'binary'; size: number; sha256: string }[];
  close: CloseInfo;
}
