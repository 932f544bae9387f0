// Passkeys and security keys for idm's sign-in and profile pages.
//
// A form marked data-webauthn="get" (sign in) or "create" (register) asks the server for the
// ceremony's options (POST of the form's own fields to data-options), calls the browser's
// WebAuthn API, puts the answer as JSON into the form's "response" field and submits the form
// normally, so the server decides where the browser goes next. Served as a file so that the
// pages' Content-Security-Policy can forbid inline scripts.
"use strict";
(function () {
  function b64u(buf) {
    var s = "";
    var bytes = new Uint8Array(buf);
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = unb64u(pk.challenge);
    pk.user.id = unb64u(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
    return { publicKey: pk };
  }
  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = unb64u(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
    var out = { publicKey: pk };
    if (o.mediation) out.mediation = o.mediation;
    return out;
  }
  function created(c) {
    return {
      id: c.id, rawId: b64u(c.rawId), type: c.type,
      response: {
        attestationObject: b64u(c.response.attestationObject),
        clientDataJSON: b64u(c.response.clientDataJSON)
      },
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    };
  }
  function asserted(c) {
    return {
      id: c.id, rawId: b64u(c.rawId), type: c.type,
      response: {
        authenticatorData: b64u(c.response.authenticatorData),
        clientDataJSON: b64u(c.response.clientDataJSON),
        signature: b64u(c.response.signature),
        userHandle: c.response.userHandle ? b64u(c.response.userHandle) : null
      },
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    };
  }
  function wire(form) {
    var status = form.querySelector(".webauthn-status");
    if (!window.PublicKeyCredential) {
      if (status) status.textContent = "This browser cannot use passkeys here.";
      return;
    }
    form.addEventListener("submit", function (ev) {
      if (form.dataset.ready === "1") return;
      ev.preventDefault();
      if (status) status.textContent = "Waiting for your passkey…";
      var body = new URLSearchParams(new FormData(form));
      fetch(form.dataset.options, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) return r.text().then(function (t) { throw new Error(t || r.statusText); });
          return r.json();
        })
        .then(function (o) {
          return form.dataset.webauthn === "create"
            ? navigator.credentials.create(creationOptions(o)).then(created)
            : navigator.credentials.get(requestOptions(o)).then(asserted);
        })
        .then(function (answer) {
          form.querySelector("input[name=response]").value = JSON.stringify(answer);
          form.dataset.ready = "1";
          form.submit();
        })
        .catch(function (e) {
          if (status) status.textContent = "The passkey was not used: " + (e && e.message ? e.message : e);
        });
    });
  }
  document.querySelectorAll("form[data-webauthn]").forEach(wire);
})();
