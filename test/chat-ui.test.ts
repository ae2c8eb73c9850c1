// The chat's web UI (examples/chat/public/) in headless Chromium, one server
// process: pick a name, see the rooms, send a message and see it with the
// presence list; a message from a `ws` client arrives live; after the server
// restarts (same port, same data), the page reconnects by itself and catches up
// on a message sent while it was away. Screenshots go to test/artifacts/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Chromium } from './helpers/browser';
import { chatClient, startChat, type ChatMessage, type ChatProcess } from './helpers/chat-server';

const ARTIFACTS = path.join(__dirname, 'artifacts');

describe('chat web UI in Chromium', () => {
  let chromium: Chromium;
  let chat: ChatProcess;
  let dataDir: string;
  let page: Page;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corews-chat-ui-'));
    [chromium, chat] = await Promise.all([launchChromium(), startChat({ CHAT_DATA_DIR: dataDir })]);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  }, 150_000);
  afterAll(async () => {
    await chromium?.close();
    await chat?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // Page code goes as strings: this file is compiled without the DOM's types.
  const inPage = <T>(expr: string): Promise<T> => page.evaluate(expr) as Promise<T>;
  const until = (expr: string, timeout = 10_000): Promise<unknown> => page.waitForFunction(expr, undefined, { timeout });
  const texts = (): Promise<string[]> =>
    inPage("[...document.querySelectorAll('#messages li')].map((li) => li.querySelector('.user').textContent + ': ' + li.querySelector('.text').textContent)");
  const users = (): Promise<string[]> => inPage("[...document.querySelectorAll('#users li')].map((li) => li.textContent)");
  const count = (sel: string, n: number): string => `document.querySelectorAll(${JSON.stringify(sel)}).length === ${n}`;

  it('picks a name, joins, sends, and sees its message and itself in presence', async () => {
    page = await chromium.browser.newPage();
    page.on('pageerror', (e) => chromium.log.push(`page error: ${e.message}`));
    const res = await page.goto(`http://127.0.0.1:${chat.port}/`);
    expect(res!.status()).toBe(200);
    await page.fill('#name', 'alice');
    await page.click('#login button');
    await page.waitForSelector('#chat:not([hidden])');
    expect(await inPage("[...document.querySelectorAll('#rooms a')].map((a) => a.textContent)")).toEqual(['# general', '# random', '# help']);
    await until("document.querySelector('#status').textContent.startsWith('connected')");
    await until("[...document.querySelectorAll('#users li')].some((li) => li.textContent === 'alice')");
    await page.fill('#text', 'Hello from Chromium!');
    await page.click('#send button');
    await until("[...document.querySelectorAll('#messages .text')].some((e) => e.textContent === 'Hello from Chromium!')");
    expect(await texts()).toEqual(['alice: Hello from Chromium!']);

    // a ws client in the same room: the page sees it in presence and its message live
    const bob = await chatClient(chat.url);
    bob.send({ type: 'join', channel: 'general', user: 'bob' });
    const history = await bob.until((m) => m.type === 'message');
    expect(history).toMatchObject({ user: 'alice', text: 'Hello from Chromium!' });
    await until(count('#users li', 2));
    expect(await users()).toEqual(['alice', 'bob']);
    bob.send({ type: 'message', channel: 'general', text: 'hi alice' });
    await until(count('#messages li', 2));
    expect(await texts()).toEqual(['alice: Hello from Chromium!', 'bob: hi alice']);
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat-ui.png') });
    await bob.close();
    await until(count('#users li', 1));
  }, 60_000);

  it('reconnects after a server restart and catches up on what it missed', async () => {
    const port = chat.port;
    expect(await chat.stop()).toBe(0);
    await until("document.querySelector('#status').textContent.startsWith('disconnected')");
    chat = await startChat({ CHAT_DATA_DIR: dataDir, PORT: String(port) });
    // sent while the page is away (it retries with back-off)
    const carol = await chatClient(chat.url);
    carol.send({ type: 'join', channel: 'general', user: 'carol' });
    await carol.until((m: ChatMessage) => m.type === 'presence');
    carol.send({ type: 'message', channel: 'general', text: 'you missed this' });
    await carol.until((m) => m.text === 'you missed this');
    await until(count('#messages li', 3), 30_000);
    // caught up once (since), nothing shown twice
    expect(await texts()).toEqual(['alice: Hello from Chromium!', 'bob: hi alice', 'carol: you missed this']);
    await until(count('#users li', 2));
    expect(await users()).toEqual(['alice', 'carol']);
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat-ui-reconnected.png') });
    await carol.close();
  }, 150_000);
});
