// The hosted connect page in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): run by crates/server/tests/connect_page.rs.
// Env: DPC_NODE_ROOT (node_modules), CONNECT_URL (/connect?session=…), SERVER_URL, SIM_URL,
// INVALID_URL (unknown session), EXPIRED_URL (expired session), SHOT_DIR (screenshots),
// CHROMIUM (default /usr/bin/chromium).
// Prints one JSON line with what it saw; exits 1 with a message on any mismatch.
import path from "node:path";
import { launch } from "./chromium.mjs";

const env = (k) => {
  const v = process.env[k];
  if (!v) fail(`${k} is not set`);
  return v;
};
function fail(msg) {
  console.error(`connect_page.mjs: ${msg}`);
  process.exit(1);
}
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const server = env("SERVER_URL");
const sim = env("SIM_URL");
const shots = env("SHOT_DIR");

let context, close;
try {
  ({ context, close } = await launch());
} catch (e) {
  fail(e.message);
}

const seen = {};
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(20_000);
  const consoleErrors = [];
  // (The browser's own /favicon.ico probe answers 404 on both hosts: the pages declare no icon.)
  page.on("console", (m) => {
    const at = (m.location() && m.location().url) || "";
    if (m.type() === "error" && !at.endsWith("/favicon.ico")) consoleErrors.push(`${m.text()} (${at})`);
  });
  // No external assets: every request the pages make goes to the server or the simulator.
  const foreign = [];
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(server) && !u.startsWith(sim)) foreign.push(u);
  });

  // 1. The connect page: what the app asks access to.
  const resp = await page.goto(env("CONNECT_URL"));
  check(resp.status() === 200, `connect page answered ${resp.status()}`);
  const h1 = (await page.locator("h1").innerText()).trim();
  check(h1 === "Connect your Dialpad account", `connect page heading: ${h1}`);
  const ops = await page.locator("#dpc-operations li").evaluateAll((lis) =>
    lis.map((li) => ({ op: li.dataset.operation, text: li.innerText.trim() })),
  );
  const calls = ops.find((o) => o.op === "telephonyCall::list");
  check(calls && /call history/i.test(calls.text) && calls.text.includes("calls:list"), `operations shown: ${JSON.stringify(ops)}`);
  check(ops.some((o) => o.op === "genericUser::retrieve"), `genericUser::retrieve not shown: ${JSON.stringify(ops)}`);
  const scopes = await page.locator("#dpc-scopes").innerText();
  for (const s of ["calls:list", "recordings_export", "offline_access"]) {
    check(scopes.includes(s), `scope ${s} not shown: ${scopes}`);
  }
  const button = page.locator("#dpc-connect-button");
  check(await button.isVisible(), "no visible Connect button");
  await page.screenshot({ path: path.join(shots, "connect.png"), fullPage: true });
  seen.operations = ops.map((o) => o.op);
  seen.scopes = scopes;

  // 2. Connect → Dialpad's (simulated) consent page.
  await Promise.all([page.waitForURL((u) => u.href.startsWith(`${sim}/oauth2/authorize`)), button.click()]);
  const consentHeading = await page.locator("h1").innerText();
  check(/Allow/.test(consentHeading), `consent page heading: ${consentHeading}`);
  const consentText = await page.locator("body").innerText();
  check(consentText.includes("calls:list"), "consent page does not list calls:list");
  await page.screenshot({ path: path.join(shots, "consent.png"), fullPage: true });

  // 3. Approve → back through our /oauth/callback → the result page.
  const back = page.waitForResponse((r) => r.url().startsWith(`${server}/oauth/callback?`));
  await page.locator("button.approve").click();
  const cb = await back;
  check(cb.status() === 200, `callback answered ${cb.status()}`);
  await page.waitForSelector("#dpc-result");
  const status = await page.locator("#dpc-result").getAttribute("data-status");
  const resultText = (await page.locator("#dpc-result").innerText()).trim();
  check(status === "authorized", `result page status ${status}: ${resultText}`);
  check(/connected/i.test(resultText) && !/not connected/i.test(resultText), `result page text: ${resultText}`);
  await page.screenshot({ path: path.join(shots, "result.png"), fullPage: true });
  seen.result = { status, text: resultText, url: page.url().split("?")[0] };
  // (Checked before the error pages: Chromium logs their 401/404 as console errors.)
  check(consoleErrors.length === 0, `console errors: ${consoleErrors.join(" | ")}`);

  // 4. Bad links: a clear error page, not a stack trace or JSON.
  for (const [name, code, words, httpStatus] of [
    ["INVALID_URL", "SESSION::INVALID", /not valid/i, 404],
    ["EXPIRED_URL", "SESSION::EXPIRED", /expired/i, 401],
  ]) {
    const r = await page.goto(env(name));
    check(r.status() === httpStatus, `${name}: HTTP ${r.status()}`);
    check((r.headers()["content-type"] || "").startsWith("text/html"), `${name}: not HTML`);
    const el = page.locator("#dpc-result");
    const s = await el.getAttribute("data-status");
    const c = await el.getAttribute("data-error");
    const t = (await el.innerText()).trim();
    check(s === "error" && c === code && words.test(t), `${name}: ${s} ${c}: ${t}`);
    check(!(await page.locator("#dpc-connect-button").count()), `${name}: shows a Connect button`);
    if (name === "EXPIRED_URL") await page.screenshot({ path: path.join(shots, "expired.png"), fullPage: true });
    seen[name] = { code, text: t };
  }
  check(foreign.length === 0, `requests outside the server and simulator: ${foreign.join(", ")}`);
} catch (e) {
  await close();
  fail(e.stack || String(e));
}
await close();
console.log(JSON.stringify(seen));
