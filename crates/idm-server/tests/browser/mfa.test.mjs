// Strong authentication in a real browser: headless Debian Chromium driven by playwright-core,
// passkeys through Chrome DevTools' virtual authenticator (ctap2, internal, resident keys, user
// verification), TOTP codes from Debian's oathtool. Started by crates/idm-server/tests/browser.rs,
// which prepares the server and its data through the admin API and passes everything here in
// environment variables; it verifies the ID tokens written to IDM_TOKENS_OUT afterwards.
//
// Every wait has its own timeout: a WebAuthn call that never settles must fail the test, not
// hang the run (see BROWSER-TESTS.md in the shared notes).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (this file is run by tests/browser.rs)`);
  return v;
};
const BASE = env("IDM_URL"); // https://localhost:PORT: the server's origin
const CLIENT_ID = env("IDM_CLIENT_ID");
const CLIENT_SECRET = env("IDM_CLIENT_SECRET");
const REDIRECT_URI = env("IDM_REDIRECT_URI");
const PASSWORD = env("IDM_PASSWORD");
/** Frank's password after he changes it. */
const NEW_PASSWORD = "quartz-lantern-92-meadow-sleet";
const ADMIN_TOKEN = env("IDM_ADMIN_TOKEN");
const PEOPLE = JSON.parse(env("IDM_PEOPLE")); // name → UUID
const POLICY_GROUP = env("IDM_POLICY_GROUP");
/** Who has the credential-reset link (no password, no credentials, a passkey-only group). */
const RESET_PERSON = env("IDM_RESET_PERSON");
/** Their one-time link, as the admin API made it: `${BASE}/ui/reset?token=…`. */
const RESET_URL = env("IDM_RESET_URL");
const TOKENS_OUT = env("IDM_TOKENS_OUT");
const ARTIFACTS = env("IDM_ARTIFACTS");
const CHROMIUM = process.env.IDM_CHROMIUM || "/usr/bin/chromium";
/** Where to keep screenshots of the pages along the way, when set (for a look at them). */
const SCREENSHOTS = process.env.IDM_BROWSER_SCREENSHOTS;

/** One step of a page (a click and the navigation it causes, a text to appear). */
const STEP_MS = 15_000;
/** One scenario. */
const SCENARIO_MS = 90_000;

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];

/** `promise`, or an error after `ms`: for the waits Playwright does not bound itself. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let browser;
/** The application at the redirect URI: a page that says so (the test reads the URL). */
let application;
/** ID tokens for the Rust side to verify: scenario → { id_token, nonce }. */
const tokens = {};
/** Bob's backup codes: made in scenario b, used in scenario e. */
const backupCodes = [];

before(async () => {
  const rp = new URL(REDIRECT_URI);
  application = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("the application");
  });
  await within(STEP_MS, "the application's listener", new Promise((resolve, reject) => {
    application.once("error", reject);
    application.listen(Number(rp.port), rp.hostname, resolve);
  }));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 });
});

after(async () => {
  fs.writeFileSync(TOKENS_OUT, JSON.stringify(tokens, null, 2));
  await within(STEP_MS, "closing Chromium", browser?.close());
  application?.closeAllConnections();
  await within(STEP_MS, "closing the application's listener",
    new Promise((resolve) => (application ? application.close(resolve) : resolve())));
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** The virtual authenticator of a phone or laptop: passkeys with user verification. */
const PLATFORM = {
  protocol: "ctap2", transport: "internal", hasResidentKey: true,
  hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
};
/** A USB security key: no resident keys, presence only. */
const USB_KEY = {
  protocol: "ctap2", transport: "usb", hasResidentKey: false,
  hasUserVerification: false, automaticPresenceSimulation: true,
};

/** A fresh browser context (its own cookies) with one page that has a virtual authenticator. */
async function newPage(t, authenticator = PLATFORM) {
  const context = await within(STEP_MS, "a browser context",
    browser.newContext({ ignoreHTTPSErrors: true }));
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(STEP_MS);
  const page = await within(STEP_MS, "a page", context.newPage());
  const log = [];
  page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
  const session = await within(STEP_MS, "a DevTools session", context.newCDPSession(page));
  const cdp = (method, params) => within(STEP_MS, method, session.send(method, params));
  // Before any page calls WebAuthn: without it, get() would hang for ever.
  await cdp("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp("WebAuthn.addVirtualAuthenticator", {
    options: authenticator,
  });
  const credentials = async () =>
    (await cdp("WebAuthn.getCredentials", { authenticatorId })).credentials;
  const close = async () => {
    await cdp("WebAuthn.removeVirtualAuthenticator", { authenticatorId }).catch(() => {});
    await within(STEP_MS, "closing a browser context", context.close());
  };
  t.after(close);
  return { context, page, log, credentials, close };
}

/** Runs a scenario; on failure saves a screenshot and the page's console next to the log. */
function scenario(name, fn) {
  test(name, { timeout: SCENARIO_MS }, async (t) => {
    const pages = [];
    const open = async (authenticator) => {
      const p = await newPage(t, authenticator);
      pages.push(p);
      return p;
    };
    try {
      await fn(open);
    } catch (e) {
      for (const [i, p] of pages.entries()) {
        const base = path.join(ARTIFACTS, `${name.replace(/[^a-z0-9]+/gi, "-")}-${i}`);
        await p.page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 5_000 }).catch(() => {});
        const html = await p.page.content().catch(() => "");
        fs.writeFileSync(`${base}.txt`, `url: ${p.page.url()}\n${p.log.join("\n")}\n\n${html}`);
        console.error(`page ${i} at ${p.page.url()}; console:\n${p.log.join("\n")}\nsaved ${base}.png/.txt`);
      }
      throw e;
    }
  });
}

/** A screenshot of the page, when IDM_BROWSER_SCREENSHOTS names a directory. */
async function shot(page, name) {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true, timeout: 5_000 });
}

/** A TOTP code from Debian's oathtool (RFC 6238: SHA-1, 6 digits, 30 s), `ahead` steps on. */
function oathtool(secret, ahead = 0) {
  const at = Math.floor(Date.now() / 1000) + 30 * ahead;
  return execFileSync("oathtool", ["--totp", "-b", "-N", `@${at}`, secret], {
    encoding: "utf8",
    timeout: 10_000,
  }).trim();
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** Starts an authorization code flow (PKCE S256) in the page; returns what the exchange needs. */
async function authorize(page, extra = {}) {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash("sha256").update(verifier).digest());
  const state = b64url(crypto.randomBytes(16));
  const nonce = b64url(crypto.randomBytes(16));
  const q = new URLSearchParams({
    response_type: "code", client_id: CLIENT_ID, redirect_uri: REDIRECT_URI,
    scope: "openid profile", state, nonce, code_challenge: challenge,
    code_challenge_method: "S256", ...extra,
  });
  await page.goto(`${BASE}/oauth2/authorize?${q}`);
  return { verifier, state, nonce };
}

/** Waits for the browser to arrive at the application; returns the code. */
async function codeAtApplication(page, flow) {
  await page.waitForURL((u) => u.href.startsWith(REDIRECT_URI), { timeout: STEP_MS });
  const u = new URL(page.url());
  assert.equal(u.searchParams.get("error"), null, `error at the application: ${u}`);
  assert.equal(u.searchParams.get("state"), flow.state);
  assert.equal(u.searchParams.get("iss"), BASE);
  const code = u.searchParams.get("code");
  assert.ok(code, `no code in ${u}`);
  return code;
}

/** Exchanges the code at the token endpoint; returns the ID token's claims (and keeps it). */
async function exchange(name, code, flow) {
  const res = await fetch(`${BASE}/oauth2/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: flow.verifier,
    }),
    signal: AbortSignal.timeout(STEP_MS),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  tokens[name] = { id_token: body.id_token, nonce: flow.nonce };
  const claims = JSON.parse(Buffer.from(body.id_token.split(".")[1], "base64url").toString());
  assert.equal(claims.nonce, flow.nonce);
  return claims;
}

/** The login form of a flow: name and password. */
async function passwordLogin(page, name) {
  await page.waitForURL(/\/ui\/login\?flow=/);
  await page.fill("#username", name);
  await page.fill("#password", PASSWORD);
  await page.click('form[action="/ui/login"] button[type=submit]');
}

/** The profile's own login page, with the password; lands on /ui/profile. */
async function profileLogin(page, name) {
  await page.goto(`${BASE}/ui/profile/login`);
  await page.fill("#username", name);
  await page.fill("#password", PASSWORD);
  await page.click('form[action="/ui/profile/login"] button[type=submit]');
  await page.waitForURL(`${BASE}/ui/profile`);
  await page.getByRole("heading", { name: "Your account" }).waitFor();
}

/** Enrols an authenticator app on the profile page; returns its secret. With `typo`, a wrong
 * code first (the page asks again, for the same key). */
async function enrolTotp(page, label, typo = false) {
  await page.click("#add-totp");
  await page.waitForURL(`${BASE}/ui/profile/totp`);
  const secret = (await page.textContent("#totp-secret")).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/, "a 160-bit base32 key");
  if (typo) {
    const right = oathtool(secret);
    await page.fill("#label", label);
    await page.fill("#code", right === "123456" ? "654321" : "123456");
    await page.click('form[action="/ui/profile/totp"] button[type=submit]');
    await page.getByText("That code is not right.").waitFor();
    assert.equal((await page.textContent("#totp-secret")).trim(), secret, "the same key");
  }
  await page.fill("#label", label);
  await page.fill("#code", oathtool(secret));
  await page.click('form[action="/ui/profile/totp"] button[type=submit]');
  await page.getByText("The authenticator app was added.").waitFor();
  assert.deepEqual(await page.locator("#totp li .label").allTextContents(), [label]);
  return secret;
}

/** Registers a passkey (or a security key) on the profile page with the page's virtual
 * authenticator. */
async function enrolPasskey(p, label, kind = "passkey") {
  const { page } = p;
  await page.fill("#passkey-label", label);
  await page.selectOption("#passkey-kind", kind);
  await page.click("#add-passkey-button");
  await waitForTextOrStatus(page, "The passkey was added.");
  assert.deepEqual(await page.locator("#passkeys li .label").allTextContents(), [label]);
}

/** The second step of a password login, with the page's passkey or security key. */
async function secondStepWithKey(page) {
  await page.waitForURL(`${BASE}/ui/login/mfa`);
  await page.click("#webauthn-button");
}

/** Waits for `text`, or fails early with what the passkey script said. */
async function waitForTextOrStatus(page, text) {
  try {
    await page.getByText(text).waitFor({ timeout: STEP_MS });
  } catch (e) {
    const status = await page.locator(".webauthn-status").allTextContents().catch(() => []);
    const alert = await page.locator("[role=alert]").allTextContents().catch(() => []);
    throw new Error(`"${text}" did not appear (status: ${JSON.stringify(status)}, alert: ${JSON.stringify(alert)}): ${e.message}`);
  }
}

function assertPasskeyLogin(claims, name) {
  assert.equal(claims.preferred_username, name);
  assert.equal(claims.sub, PEOPLE[name]);
  const key = claims.amr.includes("hwk") ? "hwk" : "swk";
  assert.ok(claims.amr.includes(key), `amr ${claims.amr}`);
  assert.ok(claims.amr.includes("user") && claims.amr.includes("mfa"), `amr ${claims.amr}`);
  assert.equal(claims.acr, key === "hwk" ? "phrh" : "phr");
  assert.equal(claims.assurance, "phishing_resistant");
}

/** A person joins a group through the admin API. */
async function addMember(group, name) {
  const res = await fetch(`${BASE}/v1/group/${group}/members`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ members: [name] }),
    signal: AbortSignal.timeout(STEP_MS),
  });
  assert.equal(res.status, 200, await res.text());
}

// ---------------------------------------------------------------------------------------------
// Scenarios

scenario("a: a passkey enrolled on the profile page signs in without a username", async (open) => {
  const p = await open();
  const { page } = p;
  await profileLogin(page, "alice");
  await enrolPasskey(p, "laptop");
  await shot(page, "profile-with-passkey");
  const creds = await p.credentials();
  assert.equal(creds.length, 1);
  assert.equal(creds[0].isResidentCredential, true);
  assert.equal(creds[0].rpId, "localhost");
  assert.equal(creds[0].userHandle, Buffer.from(PEOPLE.alice.replace(/-/g, ""), "hex").toString("base64"));

  // Signed out (the profile's button): a new authorization, and only the passkey button.
  await page.click("#sign-out");
  await page.waitForURL(`${BASE}/ui/profile/login`);
  const flow = await authorize(page);
  await page.waitForURL(/\/ui\/login\?flow=/);
  await shot(page, "login");
  await page.click("#passkey-button");
  const code = await codeAtApplication(page, flow);
  const claims = await exchange("a_passkey", code, flow);
  assertPasskeyLogin(claims, "alice");
  assert.ok(!claims.amr.includes("pwd"));
  const after = await p.credentials();
  assert.ok(after[0].signCount > creds[0].signCount, "the authenticator signed again");

  // The profile's own login page takes the passkey too; the same authenticator cannot be
  // registered twice (the server excludes it, the browser refuses).
  await p.context.clearCookies();
  await page.goto(`${BASE}/ui/profile/login`);
  await page.click("#passkey-button");
  await page.waitForURL(`${BASE}/ui/profile`);
  await page.getByRole("heading", { name: "Your account" }).waitFor();
  assert.match(await page.locator("#passkeys li").first().textContent(), /last used/);
  await page.fill("#passkey-label", "again");
  await page.click("#add-passkey-button");
  await page.getByText("The passkey was not used:").waitFor();
  assert.equal((await p.credentials()).length, 1);
  assert.deepEqual(await page.locator("#passkeys li .label").allTextContents(), ["laptop"]);
});

scenario("b: password and an oathtool code; the same code is refused in the next login", async (open) => {
  const enrol = await open();
  await profileLogin(enrol.page, "bob");
  const secret = await enrolTotp(enrol.page, "phone");
  // Backup codes for scenario e, while the profile login is recent.
  await enrol.page.click("#backup-button");
  await enrol.page.getByRole("heading", { name: "Your backup codes" }).waitFor();
  await shot(enrol.page, "backup-codes");
  backupCodes.push(...(await enrol.page.locator("#codes li code").allTextContents()));
  assert.equal(backupCodes.length, 10);

  const first = await open();
  const flow = await authorize(first.page);
  await passwordLogin(first.page, "bob");
  await first.page.waitForURL(`${BASE}/ui/login/mfa`);
  await shot(first.page, "second-step-code");
  assert.equal(await first.page.locator("#code").count(), 1);
  // The enrolment used the current step: the next one is within the accepted skew.
  const code = oathtool(secret, 1);
  await first.page.fill("#code", code);
  await first.page.click('form[action="/ui/login/mfa"] button[type=submit]');
  const claims = await exchange("b_totp", await codeAtApplication(first.page, flow), flow);
  assert.equal(claims.preferred_username, "bob");
  assert.deepEqual(claims.amr, ["pwd", "otp", "mfa"]);
  assert.equal(claims.acr, "urn:idm:acr:mfa");
  assert.equal(claims.assurance, "mfa");

  // Another browser, the same code: a replay.
  const second = await open();
  await authorize(second.page);
  await passwordLogin(second.page, "bob");
  await second.page.waitForURL(`${BASE}/ui/login/mfa`);
  await second.page.fill("#code", code);
  await second.page.click('form[action="/ui/login/mfa"] button[type=submit]');
  await second.page.getByText("That did not work. Check the code and try again.").waitFor();
  assert.equal(new URL(second.page.url()).pathname, "/ui/login/mfa");
});

scenario("e: a backup code works once", async (open) => {
  assert.equal(backupCodes.length, 10, "scenario b made them");
  const first = await open();
  const flow = await authorize(first.page);
  await passwordLogin(first.page, "bob");
  await first.page.waitForURL(`${BASE}/ui/login/mfa`);
  await first.page.fill("#code", backupCodes[0]);
  await first.page.click('form[action="/ui/login/mfa"] button[type=submit]');
  const claims = await exchange("e_backup_code", await codeAtApplication(first.page, flow), flow);
  assert.deepEqual(claims.amr, ["pwd", "otp", "mfa"]);
  assert.equal(claims.assurance, "mfa");

  const second = await open();
  await authorize(second.page);
  await passwordLogin(second.page, "bob");
  await second.page.waitForURL(`${BASE}/ui/login/mfa`);
  await second.page.fill("#code", backupCodes[0]);
  await second.page.click('form[action="/ui/login/mfa"] button[type=submit]');
  await second.page.getByText("That did not work. Check the code and try again.").waitFor();
  // Another code of the set still works.
  await second.page.fill("#code", backupCodes[1]);
  await second.page.click('form[action="/ui/login/mfa"] button[type=submit]');
  await second.page.waitForURL((u) => u.href.startsWith(REDIRECT_URI));
});

scenario("c: acr_values=urn:idm:acr:mfa steps a password-only session up with a code", async (open) => {
  // A password-only session (dave had no second factor when he signed in), then an
  // authenticator app enrolled in the same session.
  const p = await open();
  await profileLogin(p.page, "dave");
  const secret = await enrolTotp(p.page, "phone", true);
  const flow = await authorize(p.page, { acr_values: "urn:idm:acr:mfa" });
  await p.page.waitForURL(`${BASE}/ui/login/mfa`);
  await p.page.fill("#code", oathtool(secret, 1));
  await p.page.click('form[action="/ui/login/mfa"] button[type=submit]');
  const claims = await exchange("c_step_up", await codeAtApplication(p.page, flow), flow);
  assert.equal(claims.preferred_username, "dave");
  assert.equal(claims.acr, "urn:idm:acr:mfa");
  assert.deepEqual(claims.amr, ["pwd", "otp", "mfa"]);
  assert.equal(claims.assurance, "mfa");
  // The stepped-up session now meets the request by itself: straight to the application.
  const again = await authorize(p.page, { acr_values: "urn:idm:acr:mfa" });
  const claims2 = await exchange("c_sso", await codeAtApplication(p.page, again), again);
  assert.equal(claims2.acr, "urn:idm:acr:mfa");
  // A phishing-resistant request cannot be met with what dave holds.
  await authorize(p.page, { acr_values: "phr" });
  await p.page.getByText("must sign in with a passkey").waitFor();
  // Without the app (removed on the profile page: the step-up was a fresh login), a new
  // login cannot meet the request for a second factor.
  await p.page.goto(`${BASE}/ui/profile`);
  await p.page.click('#totp li form[action="/ui/profile/totp/remove"] button');
  await p.page.getByText("The authenticator app was removed.").waitFor();
  assert.equal(await p.page.locator("#totp li").count(), 0);
  await p.page.click("#sign-out");
  await p.page.waitForURL(`${BASE}/ui/profile/login`);
  await authorize(p.page, { acr_values: "urn:idm:acr:mfa" });
  await passwordLogin(p.page, "dave");
  await p.page.getByText("needs a second factor").waitFor();
});

scenario("d: a passkey policy refuses password and TOTP, and admits the passkey", async (open) => {
  const p = await open();
  const { page } = p;
  await profileLogin(page, "carol");
  const secret = await enrolTotp(page, "phone");
  await enrolPasskey(p, "security");
  await addMember(POLICY_GROUP, "carol");

  // Password, then the second step asks for a passkey only; a TOTP code does not finish it.
  await p.context.clearCookies();
  const flow = await authorize(page);
  await passwordLogin(page, "carol");
  await page.waitForURL(`${BASE}/ui/login/mfa`);
  await page.getByText("This requires a passkey.").waitFor();
  await shot(page, "second-step-passkey-only");
  assert.equal(await page.locator("#code").count(), 0, "no code field");
  const csrf = await page.inputValue('#webauthn input[name="csrf"]');
  const answer = await within(STEP_MS, "a code posted from the page", page.evaluate(
    async ([csrf, code, ms]) => {
      const r = await fetch("/ui/login/mfa", {
        method: "POST",
        body: new URLSearchParams({ csrf, code }),
        redirect: "manual",
        signal: AbortSignal.timeout(ms),
      });
      return { status: r.status, type: r.type, text: await r.text() };
    },
    [csrf, oathtool(secret, 1), STEP_MS],
  ));
  assert.equal(answer.type, "basic", "no redirect (that would be \"opaqueredirect\")");
  assert.equal(answer.status, 200);
  assert.ok(answer.text.includes("This requires a passkey."), answer.text);
  // The passkey finishes it.
  await page.click("#webauthn-button");
  const claims = await exchange("d_password_passkey", await codeAtApplication(page, flow), flow);
  assertPasskeyLogin(claims, "carol");
  assert.ok(claims.amr.includes("pwd"));

  // And the passkey alone, without a username.
  await p.context.clearCookies();
  const flow2 = await authorize(page);
  await page.waitForURL(/\/ui\/login\?flow=/);
  await page.click("#passkey-button");
  const claims2 = await exchange("d_passkey", await codeAtApplication(page, flow2), flow2);
  assertPasskeyLogin(claims2, "carol");
  assert.ok(!claims2.amr.includes("pwd"));
});

scenario("g: a security key after the password; renamed, then removed, on the profile page", async (open) => {
  const p = await open(USB_KEY);
  const { page } = p;
  await profileLogin(page, "frank");
  await enrolPasskey(p, "usb key", "security_key");
  const creds = await p.credentials();
  assert.equal(creds.length, 1);
  assert.equal(creds[0].isResidentCredential, false, "a security key keeps no resident key");
  assert.match(await page.locator("#passkeys li").first().textContent(), /security key/);

  await p.context.clearCookies();
  const flow = await authorize(page);
  await passwordLogin(page, "frank");
  await shot(page, "second-step-key");
  await secondStepWithKey(page);
  const claims = await exchange("g_security_key", await codeAtApplication(page, flow), flow);
  assert.equal(claims.preferred_username, "frank");
  assert.deepEqual(claims.amr, ["pwd", "hwk", "user", "mfa"]);
  assert.equal(claims.acr, "phrh");
  assert.equal(claims.assurance, "phishing_resistant");

  // The profile (the session is a fresh login): last used today; renamed; the renamed key
  // still works; removed, and the password alone is a login again.
  await page.goto(`${BASE}/ui/profile`);
  assert.match(await page.locator("#passkeys li").first().textContent(), /last used \d{4}-\d{2}-\d{2}/);
  await page.fill('#passkeys li input[name="new_label"]', "yubikey");
  await page.click('#passkeys li form[action="/ui/profile/passkey/rename"] button');
  await page.getByText("The passkey was renamed.").waitFor();
  assert.deepEqual(await page.locator("#passkeys li .label").allTextContents(), ["yubikey"]);
  await page.click("#sign-out");
  await page.waitForURL(`${BASE}/ui/profile/login`);
  const again = await authorize(page);
  await passwordLogin(page, "frank");
  await secondStepWithKey(page);
  await exchange("g_renamed", await codeAtApplication(page, again), again);
  await page.goto(`${BASE}/ui/profile`);
  await page.click('#passkeys li form[action="/ui/profile/passkey/remove"] button');
  await page.getByText("The passkey was removed.").waitFor();
  assert.equal(await page.locator("#passkeys li").count(), 0);
  await page.click("#sign-out");
  await page.waitForURL(`${BASE}/ui/profile/login`);
  const last = await authorize(page);
  await passwordLogin(page, "frank");
  const plain = await exchange("g_password", await codeAtApplication(page, last), last);
  assert.deepEqual(plain.amr, ["pwd"]);
  assert.equal(plain.acr, "urn:idm:acr:password");
  assert.equal(plain.assurance, "password");

  // A new password on the profile page (the current one first); the old one stops working.
  await profileLogin(page, "frank");
  await page.fill("#current", "not-the-password");
  await page.fill("#new", NEW_PASSWORD);
  await page.click('form[action="/ui/profile/password"] button[type=submit]');
  await page.getByText("The current password is not right.").waitFor();
  await page.fill("#current", PASSWORD);
  await page.fill("#new", NEW_PASSWORD);
  await page.click('form[action="/ui/profile/password"] button[type=submit]');
  await page.getByText("Your password was changed.").waitFor();
  await page.click("#sign-out");
  await page.waitForURL(`${BASE}/ui/profile/login`);
  await page.fill("#username", "frank");
  await page.fill("#password", PASSWORD);
  await page.click('form[action="/ui/profile/login"] button[type=submit]');
  await page.getByText("Invalid name or password").waitFor();
  await page.fill("#password", NEW_PASSWORD);
  await page.click('form[action="/ui/profile/login"] button[type=submit]');
  await page.waitForURL(`${BASE}/ui/profile`);
});

scenario("h: a credential-reset link opens the profile once; the passkey made with it signs in", async (open) => {
  const p = await open();
  const { page } = p;
  assert.ok(RESET_URL.startsWith(`${BASE}/ui/reset?token=`), RESET_URL);
  // The link's page is only a button: loading it (a link scanner, a reload) uses nothing up.
  for (let i = 0; i < 2; i++) {
    const res = await page.goto(RESET_URL);
    assert.equal(res.status(), 200);
    await page.locator("#reset-continue").waitFor();
  }
  await shot(page, "reset-link");
  await page.click("#reset-continue");
  await page.waitForURL(`${BASE}/ui/profile`);
  await page.getByText("You opened a credential-reset link").waitFor();
  assert.equal(await page.locator("#passkeys li").count(), 0);

  // The reset session signs in to nothing: the application's request gets the login page.
  await authorize(page);
  await page.waitForURL(/\/ui\/login\?flow=/);
  assert.ok(!page.url().startsWith(REDIRECT_URI), page.url());
  await page.locator("#passkey-button").waitFor();

  // Still open for enrolment: a passkey.
  await page.goto(`${BASE}/ui/profile`);
  await page.getByText("You opened a credential-reset link").waitFor();
  await enrolPasskey(p, "phone");
  const creds = await p.credentials();
  assert.equal(creds.length, 1);
  assert.equal(creds[0].isResidentCredential, true);
  assert.equal(creds[0].userHandle,
    Buffer.from(PEOPLE[RESET_PERSON].replace(/-/g, ""), "hex").toString("base64"));

  // The link worked once.
  await page.goto(RESET_URL);
  await page.click("#reset-continue");
  await page.getByText("Link not valid").waitFor();
  assert.equal(new URL(page.url()).pathname, "/ui/reset");

  // The passkey signs in, without a username.
  const flow = await authorize(page);
  await page.waitForURL(/\/ui\/login\?flow=/);
  await page.click("#passkey-button");
  const claims = await exchange("h_reset_passkey", await codeAtApplication(page, flow), flow);
  assertPasskeyLogin(claims, RESET_PERSON);
  assert.ok(!claims.amr.includes("pwd"));
});
