// Morph's published SDK (@runmorph/cloud 0.0.7) against our server: run by
// crates/server/tests/morph_sdk.rs with MORPH_CLOUD_API_BASE_URL pointing at the server.
// Env: MORPH_SECRET_KEY (our sk_ key), OWNER_ID, DPC_NODE_ROOT (where node_modules is).
// Prints one JSON line with what it saw; exits 1 with a message on any mismatch or SDK error.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.DPC_NODE_ROOT, "package.json"));
const { Morph } = require("@runmorph/cloud");

function fail(msg, extra) {
  console.error(`morph.mjs: ${msg}` + (extra === undefined ? "" : `\n${JSON.stringify(extra, null, 2)}`));
  process.exit(1);
}
function check(cond, msg, extra) {
  if (!cond) fail(msg, extra);
}
// The SDK answers {data} or {error}; an error is a failure here.
// (0.0.7 nests it: request() answers {error: {code, message}} and the method wraps that again
// as {error: {code: {code, message}, message: undefined}}.)
function errorCode(result) {
  const e = result && result.error;
  if (!e) return undefined;
  return typeof e.code === "object" && e.code !== null ? e.code.code : e.code;
}
function ok(step, result) {
  if (!result || result.error) fail(`${step}: SDK error`, result);
  return result.data;
}

const base = process.env.MORPH_CLOUD_API_BASE_URL;
check(base, "MORPH_CLOUD_API_BASE_URL is not set");
const ownerId = process.env.OWNER_ID;
const operations = ["genericUser::retrieve", "telephonyCall::list"];

const morph = Morph({ publicKey: "pk_test_ignored", secretKey: process.env.MORPH_SECRET_KEY });
const connection = morph.connections({ connectorId: "dialpad", ownerId });
const seen = {};

// create
const created = ok("create", await connection.create({ operations }));
check(created.object === "connection", "create: object", created);
check(created.connectorId === "dialpad" && created.ownerId === ownerId, "create: ids", created);
check(JSON.stringify(created.operations) === JSON.stringify(operations), "create: operations", created);
check(created.status === "unauthorized", "create: status", created);
seen.created = created.status;

// authorize
const auth = ok("authorize", await connection.authorize({}));
check(auth.object === "connectionAuthorization", "authorize: object", auth);
check(auth.status === "awaitingAuthorization", "authorize: status", auth);
check(typeof auth.authorizationUrl === "string", "authorize: no authorizationUrl", auth);
const authUrl = new URL(auth.authorizationUrl);
check(authUrl.pathname === "/oauth2/authorize", "authorize: not Dialpad's authorize endpoint", auth);
const scopes = (authUrl.searchParams.get("scope") || "").split(" ");
for (const s of ["calls:list", "recordings_export", "offline_access"]) {
  check(scopes.includes(s), `authorize: scope ${s} not asked`, auth);
}
check(authUrl.searchParams.get("code_challenge_method") === "S256", "authorize: no PKCE S256", auth);
check(authUrl.searchParams.get("state"), "authorize: no state", auth);
seen.authorizationUrl = auth.authorizationUrl;

// retrieve (the SDK uses GET /v1/s/connection with the secret key and connection headers)
let got = ok("retrieve", await connection.retrieve());
check(got.status === "awaitingAuthorization", "retrieve after authorize: status", got);
seen.retrievedBeforeConsent = got.status;

// Complete the consent (the simulator runs with auto_consent): Dialpad redirects to our
// callback with a code, our callback exchanges it.
const consent = await fetch(auth.authorizationUrl, { redirect: "manual" });
check(consent.status >= 300 && consent.status < 400, `consent: expected a redirect, got ${consent.status}`);
const callback = consent.headers.get("location");
check(callback && callback.startsWith(`${base}/oauth/callback?`), "consent: redirect not to our callback", callback);
const cb = await fetch(callback, { redirect: "manual" });
const cbBody = await cb.text();
check(cb.status === 200 && cbBody.includes('data-status="authorized"'), `callback: ${cb.status}`, cbBody);

got = ok("retrieve", await connection.retrieve());
check(got.status === "authorized", "retrieve after consent: status", got);
check(Array.isArray(got.scopes) && got.scopes.includes("calls:list"), "retrieve: scopes", got);
seen.retrievedAfterConsent = got.status;

// sessions().create
const session = ok(
  "sessions.create",
  await morph.sessions().create({ connection: { connectorId: "dialpad", ownerId, operations }, expiresIn: 600 }),
);
check(session.object === "session", "session: object", session);
check(session.connectorId === "dialpad" && session.ownerId === ownerId, "session: ids", session);
check(typeof session.sessionToken === "string" && session.sessionToken.length > 0, "session: token", session);
const expiresIn = (Date.parse(session.expiresAt) - Date.now()) / 1000;
check(expiresIn > 500 && expiresIn <= 601, `session: expiresAt ${session.expiresAt} is not ~600 s away`, session);

// The front end's twin, with the session token only (no secret key).
const front = Morph({ publicKey: "pk_test_ignored" });
const viaSession = ok("session retrieve", await front.connections({ sessionToken: session.sessionToken }).retrieve());
check(viaSession.ownerId === ownerId && viaSession.status === "authorized", "session retrieve", viaSession);
seen.session = "ok";

// An error comes back in the SDK's error shape.
const missing = await morph.connections({ connectorId: "dialpad", ownerId: `${ownerId}-nobody` }).retrieve();
check(errorCode(missing) === "CONNECTION::NOT_FOUND", "retrieve of an unknown connection", missing);
seen.unknownError = errorCode(missing);

// delete (the SDK ignores the answer: check with retrieve)
const deleted = await connection.delete();
check(deleted === undefined, "delete returned something", deleted);
const after = await connection.retrieve();
check(errorCode(after) === "CONNECTION::NOT_FOUND", "retrieve after delete", after);
seen.afterDelete = errorCode(after);

console.log(JSON.stringify(seen));
