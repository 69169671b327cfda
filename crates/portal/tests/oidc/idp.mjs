// The identity provider of the portal's sign-in tests: panva's oidc-provider (a certified OpenID
// provider) with a password sign-in page, three clients and four users whose roles sit where Keycloak
// puts realm roles (`realm_access.roles`).
//
//   node idp.mjs REDIRECT_URI [REDIRECT_URI ...]
//
// Listens on an ephemeral port of 127.0.0.1 and prints `issuer http://127.0.0.1:PORT` once ready.
// Clients (secret = client id + "-secret"): `warnkit-portal` (RS256 ID tokens), `warnkit-portal-es`
// (ES256), `other-client` (RS256; for tokens meant for someone else). Users (password = name +
// "-password"): hanna (c19hotline), erik (c19hotline_event), hal (c19healthauthority), nora (no role).
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";

import Provider from "oidc-provider";

const redirectUris = process.argv.slice(2);
if (redirectUris.length === 0) {
  console.error("usage: node idp.mjs REDIRECT_URI [REDIRECT_URI ...]");
  process.exit(2);
}

const USERS = {
  hanna: ["c19hotline"],
  erik: ["c19hotline_event"],
  hal: ["c19healthauthority"],
  nora: [],
};

function jwk(type, options, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: "jwk" }), kid, use: "sig" };
}

const client = (id, alg) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  redirect_uris: redirectUris,
  grant_types: ["authorization_code"],
  response_types: ["code"],
  id_token_signed_response_alg: alg,
  token_endpoint_auth_method: "client_secret_basic",
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const server = createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      client("warnkit-portal", "RS256"),
      client("warnkit-portal-es", "ES256"),
      client("other-client", "RS256"),
    ],
    jwks: {
      keys: [
        jwk("rsa", { modulusLength: 2048 }, "rsa-1"),
        jwk("ec", { namedCurve: "P-256" }, "ec-1"),
      ],
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    claims: { openid: ["sub"], profile: ["preferred_username", "name"], roles: ["realm_access"] },
    scopes: ["openid", "profile", "roles"],
    pkce: { required: () => true },
    cookies: { keys: ["warnkit-test-idp-cookie-key"] },
    async findAccount(ctx, sub) {
      if (!(sub in USERS)) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, preferred_username: sub, name: sub, realm_access: { roles: USERS[sub] } };
        },
      };
    },
  });
  const handler = provider.callback();

  // The sign-in page: a real password check; consent is implied (the portal is a first-party client).
  async function interaction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details;
    if (prompt.name === "login") {
      let error = "";
      if (action === "login") {
        const body = new URLSearchParams(await read(req));
        const user = body.get("username") ?? "";
        if (user in USERS && body.get("password") === `${user}-password`) {
          return provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
        }
        error = `<p id="error">Invalid username or password.</p>`;
        res.statusCode = 401;
      }
      res.setHeader("content-type", "text/html; charset=utf-8");
      return res.end(`<!doctype html><title>Test IdP sign-in</title><h1>Sign in to the test IdP</h1>${error}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Username <input name="username" id="username"></label>
<label>Password <input name="password" id="password" type="password"></label>
<button type="submit" id="kc-login">Sign in</button></form>`);
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  server.on("request", (req, res) => {
    const m = /^\/interaction\/([\w-]+)(?:\/(login))?$/.exec(req.url.split("?")[0]);
    if (!m) return handler(req, res);
    interaction(req, res, m[1], req.method === "POST" ? m[2] : undefined).catch((err) => {
      res.statusCode = 400;
      res.end(`interaction failed: ${escape(err.message)}`);
    });
  });
  console.log(`issuer ${issuer}`);
});

function read(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      data += chunk;
      if (data.length > 10000) reject(new Error("body too large"));
    });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}
