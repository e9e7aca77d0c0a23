// Morph's published SDK (@runmorph/cloud 0.0.7) against our unified resources API: run by
// crates/server/tests/morph_resources.rs with MORPH_CLOUD_API_BASE_URL pointing at the server.
// Env: MORPH_SECRET_KEY (our sk_ key), OWNER_ID, DIALPAD_BASE_URL and DIALPAD_API_KEY (the
// simulator and a key it accepts: what Dialpad holds, read without the connector),
// DPC_NODE_ROOT (where node_modules is).
// Every step runs through the SDK's three clients: the secret-key one (/v1/resources/… with
// x-connector-id/x-owner-id), the session one (/v1/s/resources/… with x-session-token) and a
// secret-key client given a session token (/v1/resources/… with both credentials).
// Prints one JSON line with what it saw; exits 1 with a message on any mismatch or SDK error.
import { createRequire } from "node:module";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";

const require = createRequire(path.join(process.env.DPC_NODE_ROOT, "package.json"));
const { Morph } = require("@runmorph/cloud");

function fail(msg, extra) {
  console.error(`morph_resources.mjs: ${msg}` + (extra === undefined ? "" : `\n${JSON.stringify(extra, null, 2)}`));
  process.exit(1);
}
function check(cond, msg, extra) {
  if (!cond) fail(msg, extra);
}

// The SDK's answers. list and listFields hand back our body as is ({data, next}) or
// {error: {code, message}}; create, retrieve and update wrap it as {data} or, on an error,
// nest it once more: {error: {code: {code, message}, message: undefined}}; delete answers
// undefined, or {error: {code: {code, message}, message: ""}}.
function errorCode(result) {
  const e = result && result.error;
  if (!e) return undefined;
  return typeof e.code === "object" && e.code !== null ? e.code.code : e.code;
}
function errorMessage(result) {
  const e = result && result.error;
  if (!e) return undefined;
  return typeof e.code === "object" && e.code !== null ? e.code.message : e.message;
}
function ok(step, result) {
  if (!result || result.error) fail(`${step}: SDK error`, result);
  return result.data;
}
// A list answer: our {data, next} as the SDK hands it back.
function page(step, result, limit) {
  if (!result || result.error) fail(`${step}: SDK error`, result);
  check(Array.isArray(result.data), `${step}: data is not a list`, result);
  check(result.next === null || (typeof result.next === "string" && result.next.length > 0), `${step}: next`, result);
  check(Object.keys(result).sort().join() === "data,next", `${step}: keys of a list answer`, Object.keys(result));
  if (limit !== undefined) check(result.data.length <= limit, `${step}: ${result.data.length} > limit ${limit}`, result);
  return result;
}
function expectError(step, result, code) {
  check(errorCode(result) === code, `${step}: expected ${code}`, result);
  const message = errorMessage(result);
  check(typeof message === "string" && message.length > 0, `${step}: no error message`, result);
  return message;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
// Every model answers its times: Dialpad's own, or for contacts and offices (which have none)
// when the connector first saw the record and last saw it change.
const TIMED = new Set(["genericContact", "genericUser", "genericWorkspace", "telephonyCall", "telephonyCallTranscript"]);
function resource(step, r, model, id) {
  check(r && typeof r === "object", `${step}: not an object`, r);
  check(r.object === "resource", `${step}: object`, r);
  check(r.model === model, `${step}: model`, r);
  check(typeof r.id === "string" && r.id.length > 0, `${step}: id`, r);
  if (id !== undefined) check(r.id === id, `${step}: id ${r.id} is not ${id}`, r);
  check(r.fields && typeof r.fields === "object" && !Array.isArray(r.fields), `${step}: fields`, r);
  for (const k of ["createdAt", "updatedAt"]) {
    check(k in r, `${step}: no ${k}`, r);
    check(r[k] === null || ISO.test(r[k]), `${step}: ${k} is not ISO-8601 UTC`, r);
    if (TIMED.has(model)) check(typeof r[k] === "string", `${step}: ${k} missing`, r);
  }
  check(!("rawResource" in r), `${step}: rawResource unasked`, r);
  check(!("warnings" in r) || Array.isArray(r.warnings), `${step}: warnings`, r);
  return r;
}
function reference(step, r, model, id) {
  check(r && r.object === "resourceRef", `${step}: not a resourceRef`, r);
  check(r.model === model, `${step}: model`, r);
  check(typeof r.id === "string" && r.id.length > 0, `${step}: id`, r);
  if (id !== undefined) check(r.id === id, `${step}: id ${r.id} is not ${id}`, r);
  check(!("fields" in r), `${step}: a reference has no fields`, r);
  return r;
}
function hasFields(step, r, want) {
  for (const [k, v] of Object.entries(want)) {
    check(isDeepStrictEqual(r.fields[k], v), `${step}: fields.${k} is ${JSON.stringify(r.fields[k])}, not ${JSON.stringify(v)}`, r);
  }
}

const base = process.env.MORPH_CLOUD_API_BASE_URL;
check(base, "MORPH_CLOUD_API_BASE_URL is not set");
const ownerId = process.env.OWNER_ID;
const dialpadBase = process.env.DIALPAD_BASE_URL;
const dialpadKey = process.env.DIALPAD_API_KEY;
check(dialpadBase && dialpadKey, "DIALPAD_BASE_URL and DIALPAD_API_KEY must be set");

// Every request the SDK makes, as it reaches the network (the SDK calls the global fetch).
const sent = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init = {}) => {
  const u = new URL(String(url));
  if (u.origin === new URL(base).origin) {
    const h = init.headers || {};
    sent.push({
      method: init.method || "GET",
      path: u.pathname,
      query: u.search,
      secret: "x-api-secret" in h,
      session: "x-session-token" in h,
      connection: "x-connector-id" in h && "x-owner-id" in h,
    });
  }
  return realFetch(url, init);
};

// What Dialpad holds, straight from the simulator (not through the connector).
async function dialpad(pathAndQuery) {
  const r = await realFetch(`${dialpadBase}${pathAndQuery}`, { headers: { authorization: `Bearer ${dialpadKey}` } });
  return { status: r.status, body: await r.json() };
}
async function dialpadIds(p, key) {
  const out = [];
  let cursor = null;
  for (;;) {
    const sep = p.includes("?") ? "&" : "?";
    const r = await dialpad(cursor ? `${p}${sep}cursor=${encodeURIComponent(cursor)}` : p);
    check(r.status === 200, `Dialpad ${p}: ${r.status}`, r.body);
    for (const i of r.body.items || []) out.push(String(i[key]));
    if (!r.body.cursor) return out;
    cursor = r.body.cursor;
  }
}
async function dialpadSets() {
  const calls = await dialpadIds("/api/v2/call?limit=100", "call_id");
  const transcripts = [];
  for (const id of calls) {
    if ((await dialpad(`/api/v2/transcripts/${id}`)).status === 200) transcripts.push(id);
  }
  return {
    genericContact: await dialpadIds("/api/v2/contacts?limit=100", "id"),
    genericUser: await dialpadIds("/api/v2/users?limit=100", "id"),
    genericWorkspace: await dialpadIds("/api/v2/offices?limit=100", "id"),
    telephonyCall: calls,
    telephonyCallTranscript: transcripts,
  };
}

const MODELS = {
  genericContact: { fields: ["firstName", "email"], expand: ["owner"] },
  genericUser: { fields: ["email", "state"], expand: ["workspace"] },
  genericWorkspace: { fields: ["name", "country"], expand: [] },
  telephonyCall: { fields: ["direction", "status"], expand: ["users", "contacts"] },
  telephonyCallTranscript: { fields: ["call", "segments"], expand: ["call"] },
};
// The model an expandable reference points to.
const EXPANDS_TO = {
  owner: "genericUser",
  workspace: "genericWorkspace",
  users: "genericUser",
  contacts: "genericContact",
  call: "telephonyCall",
};
const OPERATIONS = [
  "genericContact::list", "genericContact::retrieve", "genericContact::create", "genericContact::update", "genericContact::delete",
  "genericUser::list", "genericUser::retrieve", "genericUser::create", "genericUser::update", "genericUser::delete",
  "genericWorkspace::list", "genericWorkspace::retrieve", "genericWorkspace::create", "genericWorkspace::update",
  "telephonyCall::list", "telephonyCall::retrieve", "telephonyCall::create", "telephonyCall::update",
  "telephonyCallTranscript::list", "telephonyCallTranscript::retrieve",
];

// Set up an authorized connection through the SDK (the simulator consents by itself).
const morph = Morph({ publicKey: "pk_test_ignored", secretKey: process.env.MORPH_SECRET_KEY });
const keyClient = morph.connections({ connectorId: "dialpad", ownerId });
ok("connection create", await keyClient.create({ operations: OPERATIONS }));
const auth = ok("authorize", await keyClient.authorize({}));
const consent = await realFetch(auth.authorizationUrl, { redirect: "manual" });
check(consent.status >= 300 && consent.status < 400, `consent: ${consent.status}`);
const cb = await realFetch(consent.headers.get("location"), { redirect: "manual" });
check(cb.status === 200 && (await cb.text()).includes('data-status="authorized"'), `callback: ${cb.status}`);
check(ok("retrieve", await keyClient.retrieve()).status === "authorized", "connection not authorized");
const session = ok(
  "sessions.create",
  await morph.sessions().create({ connection: { connectorId: "dialpad", ownerId, operations: OPERATIONS }, expiresIn: 3600 }),
);
const sessionClient = Morph({ publicKey: "pk_test_ignored" }).connections({ sessionToken: session.sessionToken });
// The SDK's third way (its types allow it): a secret-key client given a session token. It
// calls the secret-key routes (/v1/resources/…) with x-api-secret and x-session-token, and no
// connection headers.
const keySessionClient = morph.connections({ sessionToken: session.sessionToken });

// models(m).listFields: paged by cursor, all at once, default, and isCustom (Morph's own
// SDK test sends it).
async function fieldsOf(label, conn, model) {
  const models = conn.models(model);
  const paged = [];
  let cursor;
  for (let i = 0; i < 100; i++) {
    const p = page(`${label} listFields ${model}`, await models.listFields(cursor ? { limit: 7, cursor } : { limit: 7 }), 7);
    for (const f of p.data) {
      check(f.object === "field" && f.model === model, `${label} listFields ${model}: field shape`, f);
      check(typeof f.key === "string" && typeof f.name === "string" && typeof f.type === "string", `${label} listFields ${model}: key/name/type`, f);
      check(typeof f.readOnly === "boolean" && typeof f.isCustom === "boolean", `${label} listFields ${model}: flags`, f);
    }
    paged.push(...p.data);
    if (!p.next) break;
    check(p.data.length === 7, `${label} listFields ${model}: a short page before the end`, p);
    cursor = p.next;
  }
  const keys = paged.map((f) => f.key);
  check(new Set(keys).size === keys.length, `${label} listFields ${model}: a field twice`, keys);
  for (const k of MODELS[model].fields) check(keys.includes(k), `${label} listFields ${model}: no ${k}`, keys);
  const all = page(`${label} listFields ${model} limit 100`, await models.listFields({ limit: 100 }));
  check(all.next === null && isDeepStrictEqual(all.data, paged), `${label} listFields ${model}: pages differ from one page`, all);
  const first = page(`${label} listFields ${model} default`, await models.listFields());
  check(isDeepStrictEqual(first.data, paged.slice(0, first.data.length)), `${label} listFields ${model}: default page`, first);
  for (const isCustom of [true, false]) {
    const only = page(`${label} listFields ${model} isCustom=${isCustom}`, await models.listFields({ limit: 100, isCustom }));
    check(
      isDeepStrictEqual(only.data, paged.filter((f) => f.isCustom === isCustom)),
      `${label} listFields ${model}: isCustom=${isCustom}`,
      only,
    );
  }
  return paged.length;
}

// resources(m).list to the end at `limit`, following next with cursor.
async function listAll(label, res, model, limit, extra = {}) {
  const out = [];
  let cursor;
  for (let i = 0; i < 1000; i++) {
    const step = `${label} list ${model} limit ${limit} page ${i}`;
    const p = page(step, await res.list({ limit, ...extra, ...(cursor ? { cursor } : {}) }), limit);
    for (const r of p.data) out.push(resource(step, r, model));
    if (!p.next) return out;
    cursor = p.next;
  }
  fail(`${label} list ${model}: no end`);
}
function sameSet(step, got, want) {
  const g = [...got].sort();
  check(new Set(g).size === g.length, `${step}: a record came twice`, g);
  check(isDeepStrictEqual(g, [...want].sort()), `${step}: not the ids Dialpad has`, { got: g, want: [...want].sort() });
}

async function reads(label, conn, seen) {
  const want = await dialpadSets();
  const firsts = {};
  expectError(`${label} listFields of an unknown model`, await conn.models("genericThing").listFields(), "RESOURCE::MODEL_NOT_FOUND");
  expectError(`${label} list of an unknown model`, await conn.resources("genericThing").list(), "RESOURCE::MODEL_NOT_FOUND");
  for (const [model, spec] of Object.entries(MODELS)) {
    const res = conn.resources(model);
    seen.fields[model] = await fieldsOf(label, conn, model);
    // To the end: each record once, Dialpad's set exactly.
    const at7 = await listAll(label, res, model, 7);
    sameSet(`${label} list ${model} limit 7`, at7.map((r) => r.id), want[model]);
    seen.listed[model] = at7.length;
    seen.dialpad[model] = want[model].length;
    check(at7.length > 0, `${label} list ${model}: empty`);
    // No options at all: the first page at the default limit.
    const plain = page(`${label} list ${model} default`, await res.list(), 50);
    check(
      isDeepStrictEqual(plain.data.map((r) => r.id), at7.slice(0, plain.data.length).map((r) => r.id)) &&
        (plain.data.length === Math.min(50, at7.length) || model === "telephonyCallTranscript"),
      `${label} list ${model} default: ${plain.data.length} records`,
      plain,
    );
    // fields as an array (the SDK sends fields=a,b).
    const narrow = page(`${label} list ${model} fields`, await res.list({ limit: 5, fields: spec.fields }), 5);
    for (const r of narrow.data) {
      resource(`${label} list ${model} fields`, r, model);
      check(Object.keys(r.fields).every((k) => spec.fields.includes(k)), `${label} list ${model} fields: ${Object.keys(r.fields)}`, r);
      const full = at7.find((x) => x.id === r.id);
      for (const k of spec.fields) check(isDeepStrictEqual(r.fields[k], full.fields[k]), `${label} list ${model} fields: ${k} differs`, { r, full });
    }
    // expand as an array (expand=a,b): references become resources.
    if (spec.expand.length) {
      const wide = page(`${label} list ${model} expand`, await res.list({ limit: 5, expand: spec.expand }), 5);
      let expanded = 0;
      for (const r of wide.data) {
        resource(`${label} list ${model} expand`, r, model);
        for (const k of spec.expand) {
          const v = r.fields[k];
          for (const x of v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]) {
            if (x.object === "resource") {
              expanded++;
              resource(`${label} list ${model} expand ${k}`, x, EXPANDS_TO[k]);
            } else {
              // Kept as a reference only with a warning saying why.
              reference(`${label} list ${model} expand ${k}`, x, EXPANDS_TO[k]);
              check((r.warnings || []).some((w) => w.field === k), `${label} list ${model} expand ${k}: unexpanded without a warning`, r);
            }
          }
        }
      }
      seen.expanded[model] = expanded;
    }
    // retrieve: the same record as listed; with fields and expand.
    const first = at7[0];
    firsts[model] = first;
    const got = resource(`${label} retrieve ${model}`, ok(`${label} retrieve ${model}`, await res.retrieve(first.id)), model, first.id);
    check(isDeepStrictEqual(got.fields, first.fields), `${label} retrieve ${model}: fields differ from the list's`, { got, first });
    const some = ok(`${label} retrieve ${model} fields`, await res.retrieve(first.id, { fields: spec.fields }));
    resource(`${label} retrieve ${model} fields`, some, model, first.id);
    check(
      Object.keys(some.fields).every((k) => spec.fields.includes(k)) && spec.fields.every((k) => isDeepStrictEqual(some.fields[k], first.fields[k])),
      `${label} retrieve ${model} fields`,
      some,
    );
    if (spec.expand.length) {
      const e = ok(`${label} retrieve ${model} expand`, await res.retrieve(first.id, { expand: spec.expand }));
      resource(`${label} retrieve ${model} expand`, e, model, first.id);
    }
    // A bad list parameter: the list answer's error shape.
    const bad = await res.list({ fields: ["nickname"] });
    expectError(`${label} list ${model} unknown field`, bad, "REQUEST::INVALID");
    const missing = await res.retrieve("1");
    expectError(`${label} retrieve ${model} 1`, missing, "RESOURCE::NOT_FOUND");
  }
  // me: the connection's user and its office (with the company).
  const users = conn.resources("genericUser");
  const me = resource(`${label} retrieve genericUser me`, ok(`${label} me`, await users.retrieve("me")), "genericUser");
  check(/^\d+$/.test(me.id) && me.fields.email.includes("@"), `${label} me`, me);
  const meWs = ok(`${label} me expand`, await users.retrieve("me", { expand: ["workspace"] }));
  resource(`${label} me expand`, meWs, "genericUser", me.id);
  resource(`${label} me expand workspace`, meWs.fields.workspace, "genericWorkspace", me.fields.workspace.id);
  reference(`${label} me workspace`, me.fields.workspace, "genericWorkspace");
  const ws = resource(
    `${label} retrieve genericWorkspace me`,
    ok(`${label} workspace me`, await conn.resources("genericWorkspace").retrieve("me")),
    "genericWorkspace",
  );
  check(ws.fields.isPrimary === true && typeof ws.fields.company.name === "string", `${label} workspace me`, ws);
  const meFields = ok(`${label} me fields`, await users.retrieve("me", { fields: ["email"] }));
  check(isDeepStrictEqual(meFields.fields, { email: me.fields.email }), `${label} me fields`, meFields);
  expectError(`${label} contact me`, await conn.resources("genericContact").retrieve("me"), "RESOURCE::NOT_FOUND");
  // Local contacts too (a filter, sent as JSON), their owners expanded.
  const withLocal = await listAll(label, conn.resources("genericContact"), "genericContact", 100, {
    filters: JSON.stringify({ includeLocal: true }),
    expand: ["owner"],
  });
  sameSet(
    `${label} list contacts includeLocal`,
    withLocal.map((r) => r.id),
    await dialpadIds("/api/v2/contacts?include_local=true&limit=100", "id"),
  );
  const owned = withLocal.filter((r) => r.fields.owner);
  check(owned.length > 0 && withLocal.length > owned.length, `${label} list contacts includeLocal: no local contacts`, withLocal);
  for (const r of owned) resource(`${label} contact owner expanded`, r.fields.owner, "genericUser");
  seen.expanded.genericContact = owned.length;
  // A transcript with its call expanded.
  const t = firsts.telephonyCallTranscript;
  const te = ok(`${label} transcript expand`, await conn.resources("telephonyCallTranscript").retrieve(t.id, { expand: ["call"] }));
  resource(`${label} transcript expand call`, te.fields.call, "telephonyCall", t.id);
  check(te.fields.segments.length > 0 && typeof te.fields.segments[0].text === "string", `${label} transcript segments`, te);
  // filters: Morph's ListParams types them as an object, which the SDK sends as
  // "[object Object]" (String(value)); a JSON string or `filters[name]` keys get through.
  const asObject = await users.list({ filters: { state: "active" } });
  const filtersMessage = expectError(`${label} filters as an object`, asObject, "REQUEST::INVALID");
  check(filtersMessage.includes("JSON.stringify"), `${label} filters as an object: the message names the way out`, asObject);
  for (const filters of [{ filters: JSON.stringify({ state: "active" }) }, { "filters[state]": "active" }]) {
    const active = page(`${label} filters ${JSON.stringify(filters)}`, await users.list({ limit: 100, ...filters }));
    check(active.data.length > 0 && active.data.every((u) => u.fields.state === "active"), `${label} filters`, active);
  }
  return { me, ws, call: firsts.telephonyCall, transcript: firsts.telephonyCallTranscript };
}

async function writes(label, conn, ctx, seen) {
  // genericContact: create (ref), create (returnResource), update both ways, read back, delete.
  const contacts = conn.resources("genericContact");
  const body = {
    firstName: "Ada",
    lastName: `Lovelace ${label}`,
    email: `ada.${label}@example.com`,
    phone: "(415) 555-0142",
    companyName: "Analytical Engines",
  };
  const c1 = reference(`${label} create contact`, ok(`${label} create contact`, await contacts.create(body)), "genericContact");
  const back = resource(`${label} read created contact`, ok(`${label} read contact`, await contacts.retrieve(c1.id)), "genericContact", c1.id);
  hasFields(`${label} read created contact`, back, { ...body, phone: "+14155550142" });
  const body2 = { ...body, firstName: "Augusta", email: `augusta.${label}@example.com` };
  const c2 = resource(
    `${label} create contact returnResource`,
    ok(`${label} create contact returnResource`, await contacts.create(body2, { returnResource: true })),
    "genericContact",
  );
  hasFields(`${label} create contact returnResource`, c2, { ...body2, phone: "+14155550142" });
  reference(`${label} update contact`, ok(`${label} update contact`, await contacts.update(c1.id, { jobTitle: "Countess" })), "genericContact", c1.id);
  const u2 = ok(`${label} update contact returnResource`, await contacts.update(c2.id, { jobTitle: "Mathematician" }, { returnResource: true }));
  resource(`${label} update contact returnResource`, u2, "genericContact", c2.id);
  hasFields(`${label} update contact returnResource`, u2, { jobTitle: "Mathematician", firstName: "Augusta" });
  const r1 = ok(`${label} read updated contact`, await contacts.retrieve(c1.id, { fields: ["firstName", "jobTitle"] }));
  check(isDeepStrictEqual(r1.fields, { firstName: "Ada", jobTitle: "Countess" }), `${label} read updated contact`, r1);
  const r2 = ok(`${label} read updated contact 2`, await contacts.retrieve(c2.id));
  hasFields(`${label} read updated contact 2`, r2, { jobTitle: "Mathematician" });
  // Both are in the list to the end, and in Dialpad.
  const listed = (await listAll(label, contacts, "genericContact", 100)).map((r) => r.id);
  check(listed.includes(c1.id) && listed.includes(c2.id), `${label} created contacts not listed`, listed);
  sameSet(`${label} list contacts after create`, listed, await dialpadIds("/api/v2/contacts?limit=100", "id"));
  // Errors the SDK must read: validation (unknown field, missing required), not found.
  const invalid = await contacts.create({ firstName: "Ada" });
  const invalidMessage = expectError(`${label} create invalid contact`, invalid, "RESOURCE::VALIDATION_FAILED");
  check(invalidMessage.includes("lastName"), `${label} create invalid contact: names the field`, invalid);
  seen.errors["create invalid genericContact"] = errorCode(invalid);
  expectError(`${label} update contact unknown field`, await contacts.update(c1.id, { nickname: "x" }), "RESOURCE::VALIDATION_FAILED");
  for (const id of [c1.id, c2.id]) check((await contacts.delete(id)) === undefined, `${label} delete contact ${id}`);
  const gone = await contacts.retrieve(c1.id);
  expectError(`${label} retrieve deleted contact`, gone, "RESOURCE::NOT_FOUND");
  seen.errors["retrieve deleted genericContact"] = errorCode(gone);
  const again = await contacts.delete(c1.id);
  expectError(`${label} delete deleted contact`, again, "RESOURCE::NOT_FOUND");
  seen.errors["delete deleted genericContact"] = errorCode(again);
  expectError(`${label} update deleted contact`, await contacts.update(c2.id, { jobTitle: "x" }), "RESOURCE::NOT_FOUND");

  // genericUser: created in the connection's office.
  const users = conn.resources("genericUser");
  const officeId = ctx.me.fields.workspace.id;
  const ub = { email: `grace.${label}@example.com`, firstName: "Grace", lastName: "Hopper", workspace: officeId };
  const u1 = reference(`${label} create user`, ok(`${label} create user`, await users.create(ub)), "genericUser");
  const ur = resource(`${label} read created user`, ok(`${label} read user`, await users.retrieve(u1.id)), "genericUser", u1.id);
  hasFields(`${label} read created user`, ur, { email: ub.email, firstName: "Grace", lastName: "Hopper" });
  check(ur.fields.workspace.id === officeId, `${label} created user's office`, ur);
  const ub2 = { ...ub, email: `anita.${label}@example.com`, firstName: "Anita" };
  const uf = resource(`${label} create user returnResource`, ok(`${label} create user rR`, await users.create(ub2, { returnResource: true })), "genericUser");
  hasFields(`${label} create user returnResource`, uf, { email: ub2.email, firstName: "Anita" });
  reference(`${label} update user`, ok(`${label} update user`, await users.update(u1.id, { jobTitle: "Rear Admiral" })), "genericUser", u1.id);
  const uu = ok(`${label} update user rR`, await users.update(uf.id, { jobTitle: "Engineer" }, { returnResource: true }));
  hasFields(`${label} update user returnResource`, resource(`${label} update user rR`, uu, "genericUser", uf.id), { jobTitle: "Engineer" });
  hasFields(`${label} read updated user`, ok(`${label} read updated user`, await users.retrieve(u1.id)), { jobTitle: "Rear Admiral" });
  expectError(`${label} create user without office`, await users.create({ email: `x.${label}@example.com` }), "RESOURCE::VALIDATION_FAILED");
  for (const id of [u1.id, uf.id]) check((await users.delete(id)) === undefined, `${label} delete user ${id}`);
  // Dialpad keeps a deleted user, in state deleted (or forgets it).
  const deletedUser = await users.retrieve(u1.id);
  check(
    errorCode(deletedUser) === "RESOURCE::NOT_FOUND" || (deletedUser.data && deletedUser.data.fields.state === "deleted"),
    `${label} retrieve deleted user`,
    deletedUser,
  );

  // genericWorkspace: create needs Dialpad's billing details; update is office hours; no delete.
  const offices = conn.resources("genericWorkspace");
  const wb = {
    name: `Branch ${label}`,
    country: "DE",
    timezone: "Europe/Berlin",
    dialpad: {
      currency: "EUR",
      plan_period: "monthly",
      annual_commit_monthly_billing: false,
      invoiced: false,
      unified_billing: false,
      billing_address: { address_line_1: "Unter den Linden 1", city: "Berlin", country: "DE", postal_code: "10117", region: "BE" },
    },
  };
  const w1 = reference(`${label} create workspace`, ok(`${label} create workspace`, await offices.create(wb)), "genericWorkspace");
  const wr = resource(`${label} read workspace`, ok(`${label} read workspace`, await offices.retrieve(w1.id)), "genericWorkspace", w1.id);
  hasFields(`${label} read created workspace`, wr, { name: wb.name, timezone: "Europe/Berlin", isPrimary: false });
  check(wr.fields.country.toUpperCase() === "DE", `${label} read created workspace: country`, wr);
  const wf = resource(
    `${label} create workspace returnResource`,
    ok(`${label} create workspace rR`, await offices.create({ ...wb, name: `Annex ${label}` }, { returnResource: true })),
    "genericWorkspace",
  );
  hasFields(`${label} create workspace returnResource`, wf, { name: `Annex ${label}` });
  reference(
    `${label} update workspace`,
    ok(`${label} update workspace`, await offices.update(w1.id, { hours: { monday: ["09:00", "17:00"] } })),
    "genericWorkspace",
    w1.id,
  );
  check(
    isDeepStrictEqual(ok(`${label} read hours`, await offices.retrieve(w1.id)).fields.hours.monday, ["09:00", "17:00"]),
    `${label} updated hours`,
  );
  const wu = ok(`${label} update workspace rR`, await offices.update(wf.id, { hours: { tuesday: ["10:00", "16:00"] } }, { returnResource: true }));
  resource(`${label} update workspace rR`, wu, "genericWorkspace", wf.id);
  check(isDeepStrictEqual(wu.fields.hours.tuesday, ["10:00", "16:00"]), `${label} update workspace returnResource`, wu);
  const noBilling = await offices.create({ name: "x", country: "DE" });
  check(
    expectError(`${label} create workspace without billing`, noBilling, "RESOURCE::VALIDATION_FAILED").includes("dialpad.currency"),
    `${label} create workspace without billing: names the missing detail`,
    noBilling,
  );
  expectError(`${label} rename workspace`, await offices.update(w1.id, { name: "Renamed" }), "RESOURCE::VALIDATION_FAILED");
  const wdel = await offices.delete(w1.id);
  expectError(`${label} delete workspace`, wdel, "OPERATION::NOT_SUPPORTED");
  seen.errors["delete genericWorkspace"] = errorCode(wdel);

  // telephonyCall: create places a call from the connection's user; update sets labels.
  // (Dialpad places 5 calls a minute per company: the third client places one.)
  const calls = conn.resources("telephonyCall");
  if (label !== "keySession") {
    const k1 = reference(`${label} place call`, ok(`${label} place call`, await calls.create({ user: ctx.me.id, phone: "+14155550100" })), "telephonyCall");
    const kr = resource(`${label} read placed call`, ok(`${label} read placed call`, await calls.retrieve(k1.id)), "telephonyCall", k1.id);
    hasFields(`${label} read placed call`, kr, { direction: "outbound", externalNumber: "+14155550100" });
  }
  const k2 = ok(`${label} place call rR`, await calls.create({ user: ctx.me.id, phone: "+14155550101" }, { returnResource: true }));
  resource(`${label} place call returnResource`, k2, "telephonyCall");
  hasFields(`${label} place call returnResource`, k2, { direction: "outbound", externalNumber: "+14155550101" });
  const callId = ctx.call.id;
  const labels = [`morph-${label}`];
  reference(`${label} label call`, ok(`${label} label call`, await calls.update(callId, { labels })), "telephonyCall", callId);
  hasFields(`${label} read labelled call`, ok(`${label} read labelled call`, await calls.retrieve(callId)), { labels });
  const labels2 = [`morph-${label}`, "follow-up"];
  const lr = ok(`${label} label call rR`, await calls.update(callId, { labels: labels2 }, { returnResource: true }));
  hasFields(`${label} label call returnResource`, resource(`${label} label call rR`, lr, "telephonyCall", callId), { labels: labels2 });
  expectError(`${label} place call without user`, await calls.create({ phone: "x" }), "RESOURCE::VALIDATION_FAILED");
  expectError(`${label} update call status`, await calls.update(callId, { status: "missed" }), "RESOURCE::VALIDATION_FAILED");
  expectError(`${label} delete call`, await calls.delete(callId), "OPERATION::NOT_SUPPORTED");

  // telephonyCallTranscript: read only.
  const transcripts = conn.resources("telephonyCallTranscript");
  const tid = ctx.transcript.id;
  expectError(`${label} create transcript`, await transcripts.create({}), "OPERATION::NOT_SUPPORTED");
  expectError(`${label} update transcript`, await transcripts.update(tid, {}), "OPERATION::NOT_SUPPORTED");
  expectError(`${label} delete transcript`, await transcripts.delete(tid), "OPERATION::NOT_SUPPORTED");
  expectError(`${label} unknown model`, await conn.resources("genericThing").retrieve("1"), "RESOURCE::MODEL_NOT_FOUND");
}

const out = {};
for (const [label, conn] of [
  ["key", keyClient],
  ["session", sessionClient],
  ["keySession", keySessionClient],
]) {
  const seen = { fields: {}, listed: {}, dialpad: {}, expanded: {}, errors: {} };
  const from = sent.length;
  const t0 = Date.now();
  const ctx = await reads(label, conn, seen);
  const t1 = Date.now();
  await writes(label, conn, ctx, seen);
  seen.ms = { reads: t1 - t0, writes: Date.now() - t1 };
  // Every request of this client went to its routes with its credentials only.
  const mine = sent.slice(from);
  for (const r of mine) {
    if (label === "key") {
      check(r.path.startsWith("/v1/resources/") || r.path.startsWith("/v1/models/"), `key client: ${r.path}`, r);
      check(r.secret && r.connection && !r.session, `key client headers`, r);
    } else if (label === "keySession") {
      check(r.path.startsWith("/v1/resources/") || r.path.startsWith("/v1/models/"), `key+session client: ${r.path}`, r);
      check(r.secret && r.session && !r.connection, `key+session client headers`, r);
    } else {
      check(r.path.startsWith("/v1/s/resources/") || r.path.startsWith("/v1/s/models/"), `session client: ${r.path}`, r);
      check(r.session && !r.secret && !r.connection, `session client headers`, r);
    }
  }
  const queries = new Set(mine.map((r) => r.query).filter(Boolean));
  // How the SDK sends what it is given (String(value) of each option, form-encoded).
  for (const q of [
    "limit=7",
    "cursor=",
    "fields=firstName%2Cemail",
    "expand=users%2Ccontacts",
    "returnResource=true",
    "isCustom=true",
    "filters=%5Bobject+Object%5D",
    "filters%5Bstate%5D=active",
  ]) {
    check([...queries].some((s) => s.includes(q)), `${label}: the SDK sent no ${q}`, [...queries]);
  }
  seen.requests = mine.length;
  out[label] = seen;
}
// A token that is no session, through both session-carrying clients.
for (const [label, conn] of [
  ["session", Morph({ publicKey: "pk_test_ignored" }).connections({ sessionToken: "not-a-session" })],
  ["keySession", morph.connections({ sessionToken: "not-a-session" })],
]) {
  const r = await conn.resources("genericUser").list();
  expectError(`${label} client with an unknown session token`, r, "SESSION::INVALID");
  out[label].errors["unknown session token"] = errorCode(r);
}
console.log(JSON.stringify(out));
