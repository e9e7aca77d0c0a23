// Headless Debian Chromium (/usr/bin/chromium, or $CHROMIUM) driven by playwright-core from
// DPC_NODE_ROOT: shared by connect_page.mjs and connect_atom.mjs. No browser is downloaded.
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const require = createRequire(path.join(process.env.DPC_NODE_ROOT, "package.json"));
const { chromium } = require("playwright-core");

/// A persistent context in a fresh profile; `extra` adds launch options. With
/// `popupBlocker: true` Chromium's pop-up blocker stays on (Playwright turns it off by default;
/// a user's browser has it on), and `popupsAllowedFor: [origin]` then records the exception a
/// user makes with "Always allow pop-ups from this site" (a content setting in the profile).
/// Resolves to { context, close } where close() also removes the profile.
export async function launch({ popupBlocker = false, popupsAllowedFor = [], ...extra } = {}) {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!fs.existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath} (Debian: apt-get install chromium)`);
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dpc-chromium-"));
  if (popupsAllowedFor.length) {
    const popups = Object.fromEntries(popupsAllowedFor.map((o) => [`${o},*`, { setting: 1 }]));
    fs.mkdirSync(path.join(userDataDir, "Default"));
    fs.writeFileSync(
      path.join(userDataDir, "Default", "Preferences"),
      JSON.stringify({ profile: { content_settings: { exceptions: { popups } } } }),
    );
  }
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 800, height: 700 },
      timeout: 60_000,
      ignoreDefaultArgs: popupBlocker ? ["--disable-popup-blocking"] : [],
      ...extra,
    });
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw new Error(`cannot launch Chromium (${executablePath}): ${e.message}`);
  }
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}
