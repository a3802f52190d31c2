// Passkey ceremonies for the sign-in, second-step and account pages, with the browser
// half of SimpleWebAuthn (served from node_modules). Without JavaScript these buttons
// never appear, and the pages say that passkeys need it.
(function () {
  'use strict';
  var W = window.SimpleWebAuthnBrowser;

  function csrf() {
    try { return JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRF-Token'] || ''; } catch (e) { return ''; }
  }
  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) {
        if (!res.ok) {
          var err = new Error(json.error_description || 'The portal refused the request.');
          err.errors = json.errors || {};
          throw err;
        }
        return json;
      });
    });
  }
  function show(id, message) {
    var out = document.getElementById(id);
    if (out) out.textContent = message;
  }
  function explain(err) {
    if (err && err.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out. Try again.';
    return (err && err.message) || 'Something went wrong with the passkey. Try again.';
  }

  // WebAuthn refuses an IP address as relying party: at such an address every passkey
  // button would fail. Each one is disabled with the reason beside it (the portal's
  // passkeysUnavailable says the same on the account page and from the endpoints).
  function unavailableReason() {
    var host = location.hostname.replace(/^\[|\]$/g, '');
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host) && host.indexOf(':') < 0) return '';
    return 'Passkeys are not available at this address: browsers accept passkeys only at a domain name (such as portal.example.org), and this portal is reached at the IP address ' + host + '. Use your password and authenticator app.';
  }
  function markUnavailable() {
    var reason = unavailableReason();
    if (!reason) return;
    Array.prototype.forEach.call(document.querySelectorAll('[data-passkey-sign-in]'), function (button, i) {
      var note = document.createElement('p');
      note.className = 'passkey-unavailable';
      note.id = 'passkey-unavailable-' + i;
      note.textContent = reason;
      button.disabled = true;
      button.setAttribute('aria-describedby', note.id);
      button.insertAdjacentElement('afterend', note);
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', markUnavailable);
  else markUnavailable();

  document.addEventListener('click', function (event) {
    var signIn = event.target.closest('[data-passkey-sign-in]');
    if (signIn && W) {
      event.preventDefault();
      var base = signIn.getAttribute('data-passkey-sign-in');
      show('passkey-error', '');
      post(base + '/options').then(function (optionsJSON) {
        return W.startAuthentication({ optionsJSON: optionsJSON });
      }).then(function (response) {
        return post(base, { response: response });
      }).then(function (result) {
        window.location.assign(result.redirect);
      }).catch(function (err) { show('passkey-error', explain(err)); });
      return;
    }
  });

  // Adding a passkey (account page): the name and the step-up for this change (the
  // current password or a code) go with the request for a challenge; the portal answers
  // with one only when they hold. A refusal is shown next to its field.
  function fieldError(input, id, message) {
    show(id, message);
    if (!input) return;
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  document.addEventListener('submit', function (event) {
    var form = event.target.closest && event.target.closest('form[data-add-passkey]');
    if (!form) return;
    event.preventDefault();
    var nameInput = document.getElementById('passkey-name');
    var proofInput = document.getElementById('passkey-proof');
    var button = form.querySelector('button[type="submit"]');
    fieldError(nameInput, 'passkey-name-error', '');
    fieldError(proofInput, 'passkey-proof-error', '');
    show('passkey-error', '');
    if (!W) { show('passkey-error', 'This browser cannot add a passkey here.'); return; }
    var name = nameInput.value;
    var proof = proofInput.value;
    if (!name.trim()) { fieldError(nameInput, 'passkey-name-error', 'Give the passkey a name first.'); nameInput.focus(); return; }
    if (!proof) { fieldError(proofInput, 'passkey-proof-error', 'Enter your current password or a code from your authenticator app.'); proofInput.focus(); return; }
    button.disabled = true;
    post('/account/passkeys/options', { name: name, proof: proof }).then(function (optionsJSON) {
      return W.startRegistration({ optionsJSON: optionsJSON });
    }).then(function (response) {
      return post('/account/passkeys', { response: response });
    }).then(function (result) {
      window.location.assign(result.redirect);
    }).catch(function (err) {
      // The proof was for that one attempt (a code is used up): a new try asks again.
      button.disabled = false;
      proofInput.value = '';
      var errors = (err && err.errors) || {};
      if (errors.name) { fieldError(nameInput, 'passkey-name-error', errors.name); nameInput.focus(); }
      else if (errors.proof) { fieldError(proofInput, 'passkey-proof-error', errors.proof); proofInput.focus(); }
      else show('passkey-error', explain(err) + ' To try again, enter your password or a new code.');
    });
  });
})();
