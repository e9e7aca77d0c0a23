// Dialpad's connector-page snippet (<Morph.Provider><Connect sessionToken/></Morph.Provider>,
// @runmorph/atoms 0.0.13 driving @runmorph/cloud 0.0.7) in a real headless Chromium, on an app
// origin other than the connector's: run by crates/server/tests/connect_atom.rs.
// Env: DPC_NODE_ROOT (node_modules), SERVER_URL (the connector), SIM_URL, APP_URL (where the
// Rust test serves APP_DIR), APP_DIR (this script writes the bundled app there), SESSION_TOKEN
// (the customer who connects), BLOCKED_SESSION_TOKEN (another customer, for the pop-up blocker
// phase), SHOT_DIR (screenshots), CHROMIUM (default /usr/bin/chromium).
//
// Chromium's pop-up blocker stays on, as in a user's browser. Phase 1 shows what the atom does
// then: its click handler opens a probe window (connect.runmorph.dev/messages/popup-blocked) and
// closes it, and that window.open uses up the click's user activation, so the real popup
// (window.open(authorizationUrl)) is blocked and the atom says nothing (it only checks the
// probe). Phase 2 is the same browser after the user chose "Always allow pop-ups from this
// site" for the app, which is what the atom needs; there the whole flow runs.
// Prints one JSON line with what it saw; exits 1 with a message on any mismatch.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./chromium.mjs";

const root = process.env.DPC_NODE_ROOT;
const require = createRequire(path.join(root, "package.json"));
const esbuild = require("esbuild");

const env = (k) => {
  const v = process.env[k];
  if (!v) fail(`${k} is not set`);
  return v;
};
function fail(msg) {
  console.error(`connect_atom.mjs: ${msg}`);
  process.exit(1);
}
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const server = env("SERVER_URL");
const sim = env("SIM_URL");
const app = env("APP_URL");
const appDir = env("APP_DIR");
const shots = env("SHOT_DIR");
const here = path.dirname(fileURLToPath(import.meta.url));

// 1. Bundle the app as a Next.js build would: NEXT_PUBLIC_* inlined, other process.env reads
// undefined in the browser.
try {
  await esbuild.build({
    entryPoints: [path.join(here, "connect_atom_app.jsx")],
    bundle: true,
    outfile: path.join(appDir, "app.js"),
    format: "iife",
    jsx: "automatic",
    target: "es2020",
    // The entry lives in the repository, its packages in the cached Node folder.
    nodePaths: [path.join(root, "node_modules")],
    define: {
      "process.env.NODE_ENV": JSON.stringify("production"),
      "process.env.NEXT_PUBLIC_MORPH_CLOUD_API_BASE_URL": JSON.stringify(server),
      "process.env.MORPH_CLOUD_API_BASE_URL": "undefined",
      "process.env.NEXT_PUBLIC_MORPH_PUBLIC_KEY": JSON.stringify("pk_test_dialpad_connector"),
      "process.env.MORPH_PUBLIC_KEY": "undefined",
    },
    logLevel: "error",
  });
} catch (e) {
  fail(`esbuild: ${e.message}`);
}
// The atoms' stylesheet (dist/styles/globals.css, imported by dist/index.js) holds plain rules for
// the classes the components use beside @tailwind directives meant for the host app's Tailwind;
// esbuild bundles it unchanged into app.css. Looks only: no test step depends on styling.
fs.writeFileSync(
  path.join(appDir, "index.html"),
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App with the Dialpad connector</title>
<link rel="stylesheet" href="/app.css"></head><body style="font-family:sans-serif;margin:40px">
<h1>Acme CRM: integrations</h1><p>Dialpad</p><div id="root"></div><script src="/app.js"></script></body></html>`,
);

const seen = { requests: [], probe: [] };
const foreign = [];

/// A browser on the app page for `token`; collects the connector requests, console errors and
/// popups of that page.
async function openApp(token, launchOptions) {
  const { context, close } = await launch({ popupBlocker: true, ...launchOptions });
  // The atom's probe window goes to Morph's host, not ours: answered here so the test never
  // leaves the machine.
  await context.route("https://connect.runmorph.dev/**", (route) => {
    seen.probe.push(route.request().url());
    route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>probe</title>" });
  });
  context.on("request", (r) => {
    const u = r.url();
    if (![server, sim, app, "https://connect.runmorph.dev/"].some((p) => u.startsWith(p))) foreign.push(u);
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(20_000);
  const tab = { context, close, page, requests: [], errors: [], popups: [] };
  page.on("console", (m) => {
    const at = (m.location() && m.location().url) || "";
    if (m.type() === "error" && !at.endsWith("/favicon.ico")) tab.errors.push(`${m.text()} (${at})`);
  });
  page.on("pageerror", (e) => tab.errors.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (r.url().startsWith(server)) {
      const u = new URL(r.url());
      tab.requests.push(`${r.method()} ${u.pathname}${u.search}`);
    }
  });
  context.on("page", (p) => tab.popups.push(p));
  const resp = await page.goto(`${app}/?session=${encodeURIComponent(token)}`);
  check(resp.status() === 200, `app page answered ${resp.status()}`);
  // The atom reads the connection (GET /v1/s/connection); while loading it shows a disabled
  // "Connect".
  tab.connect = page.locator("#root button:enabled", { hasText: "Connect" });
  await tab.connect.waitFor();
  tab.text = async () => (await page.locator("#root").innerText()).trim();
  return tab;
}

const ourPopup = (tab) => tab.popups.find((p) => !p.isClosed() && p.url().startsWith(`${server}/connect`));

let tab;
try {
  // Phase 1: the pop-up blocker as shipped.
  tab = await openApp(env("BLOCKED_SESSION_TOKEN"), {});
  const authorized = tab.page.waitForResponse((r) => r.url().startsWith(`${server}/v1/s/connection/authorization`));
  await tab.connect.click();
  check((await authorized).status() === 200, "phase 1: authorize failed");
  await tab.page.waitForTimeout(2_000);
  seen.blocked = {
    requests: tab.requests,
    popupOpened: Boolean(ourPopup(tab)),
    shows: await tab.text(),
    // The atom set its "busy" state on click and, with no popup and no error, never clears it.
    buttonEnabled: await tab.page.locator("#root button").isEnabled(),
    consoleErrors: tab.errors,
  };
  await tab.page.screenshot({ path: path.join(shots, "app-popup-blocked.png"), fullPage: true });
  await tab.close();

  // Phase 2: pop-ups allowed for the app's site.
  tab = await openApp(env("SESSION_TOKEN"), { popupsAllowedFor: [app] });
  const { page } = tab;
  seen.before = await tab.text();
  check(seen.before === "Connect", `before: ${seen.before}`);
  await page.screenshot({ path: path.join(shots, "app-connect.png"), fullPage: true });

  // Click: POST /v1/s/connection/authorization?mode=connect, then the popup opens on the
  // authorizationUrl (our hosted /connect page).
  await tab.connect.click();
  const deadline = Date.now() + 20_000;
  let popup;
  while (!(popup = ourPopup(tab))) {
    if (Date.now() > deadline) {
      throw new Error(`no popup on our /connect page (windows: ${tab.popups.map((p) => p.url()).join(", ")}; app shows ${await tab.text()}; requests: ${tab.requests.join(", ")}; console: ${tab.errors.join(" | ")})`);
    }
    await page.waitForTimeout(100);
  }
  const popupErrors = [];
  popup.on("console", (m) => {
    const at = (m.location() && m.location().url) || "";
    if (m.type() === "error" && !at.endsWith("/favicon.ico")) popupErrors.push(`${m.text()} (${at})`);
  });
  popup.setDefaultTimeout(20_000);
  await popup.waitForSelector("#dpc-connect-button");
  check(await popup.evaluate(() => window.opener !== null), "the popup has no opener");
  await popup.screenshot({ path: path.join(shots, "popup-connect.png"), fullPage: true });

  // In the popup: Connect → the simulator's consent → Approve → /oauth/callback, whose page
  // posts the outcome to the app and closes the popup.
  await Promise.all([
    popup.waitForURL((u) => u.href.startsWith(`${sim}/oauth2/authorize`)),
    popup.locator("#dpc-connect-button").click(),
  ]);
  await popup.screenshot({ path: path.join(shots, "popup-consent.png"), fullPage: true });
  const closed = popup.waitForEvent("close", { timeout: 20_000 });
  await popup.locator("button.approve").click();
  await closed;

  // The atom polls popup.closed every second, then reads the connection again.
  await page.locator("#root button", { hasText: "Connected" }).waitFor();
  seen.after = await tab.text();
  await page.screenshot({ path: path.join(shots, "app-connected.png"), fullPage: true });
  seen.requests = tab.requests;
  seen.windows = tab.popups.map((p) => p.url().split("?")[0]);
  seen.messages = await page.evaluate(() => window.dpcMessages.filter((m) => m.data && m.data.type));
  check(popupErrors.length === 0, `console errors in the popup: ${popupErrors.join(" | ")}`);
  check(tab.errors.length === 0, `console errors on the app page: ${tab.errors.join(" | ")}`);
  check(foreign.length === 0, `requests outside the app, server and simulator: ${foreign.join(", ")}`);
} catch (e) {
  if (tab) await tab.close();
  fail(e.stack || String(e));
}
await tab.close();
console.log(JSON.stringify(seen));
