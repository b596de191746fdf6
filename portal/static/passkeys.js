/* Passkey ceremonies for forms marked data-passkey="create" or "get": fetch options (JSON), ask the
   browser, post the answer back with the CSRF token, then go where the server says. On the sign-in
   page (data-conditional) the browser also offers passkeys in the username field's autofill. */
(() => {
  "use strict";
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
  const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const ids = (list) => (list || []).map((c) => ({ ...c, id: dec(c.id) }));

  // The page renders these in the reader's language; the English ones are only a fallback.
  const words = (key, fallback) => document.getElementById("passkey-messages")?.dataset[key] || fallback;

  function say(text) {
    const alerts = document.getElementById("alerts");
    const box = document.createElement("div");
    box.className = "alert error";
    box.setAttribute("role", "alert");
    const p = document.createElement("p");
    p.textContent = text;
    box.append(p);
    alerts.replaceChildren(box);
  }

  async function post(form, url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON: use the default message */ }
    if (!response.ok) throw new Error(data.error || words("failed", "Something went wrong. Please try again."));
    return data;
  }

  function toJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: enc(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = enc(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = enc(r.authenticatorData);
      response.signature = enc(r.signature);
      if (r.userHandle) response.userHandle = enc(r.userHandle);
    }
    return { id: cred.id, rawId: enc(cred.rawId), type: cred.type, response,
             clientExtensionResults: cred.getClientExtensionResults(), authenticatorAttachment: cred.authenticatorAttachment };
  }

  function fields(form) {
    const data = Object.fromEntries(new FormData(form));
    delete data.csrf_token;
    return data;
  }

  async function ceremony(form, mediation, signal) {
    const body = fields(form);
    const options = await post(form, form.dataset.options, body);
    let cred;
    if (form.dataset.passkey === "create") {
      options.challenge = dec(options.challenge);
      options.user.id = dec(options.user.id);
      options.excludeCredentials = ids(options.excludeCredentials);
      cred = await navigator.credentials.create({ publicKey: options });
    } else {
      options.challenge = dec(options.challenge);
      options.allowCredentials = ids(options.allowCredentials);
      cred = await navigator.credentials.get({ publicKey: options, mediation, signal });
    }
    const done = await post(form, form.dataset.finish, { credential: toJSON(cred), next: body.next });
    window.location.assign(done.redirect);
  }

  function explain(error) {
    if (error.name === "AbortError") return;
    if (error.name === "NotAllowedError") say(words("cancelled", "The passkey request was cancelled or timed out. Please try again."));
    else if (error.name === "InvalidStateError") say(words("exists", "This device already has a passkey for your account."));
    else say(error.message);
  }

  function setUp(form) {
    if (!window.PublicKeyCredential) {
      say(words("unsupported", "This browser can't use passkeys. Sign in with a password and an emailed code instead."));
      return;
    }
    let waiting = null; // the autofill request, cancelled when the button is pressed
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      if (waiting) { waiting.controller.abort(); await waiting.done; waiting = null; }
      button.disabled = true;
      try { await ceremony(form, "optional"); } catch (error) { explain(error); } finally { button.disabled = false; }
    });
    if (form.dataset.conditional && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (!ok) return;
        const controller = new AbortController();
        const done = ceremony(form, "conditional", controller.signal).catch(explain);
        waiting = { controller, done };
      });
    }
  }

  document.querySelectorAll("form[data-passkey]").forEach(setUp);
})();
