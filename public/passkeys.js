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
        if (!res.ok) throw new Error(json.error_description || 'The portal refused the request.');
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
    var add = event.target.closest('[data-add-passkey]');
    if (add && W) {
      event.preventDefault();
      var name = (document.getElementById('passkey-name') || {}).value || '';
      show('passkey-error', '');
      if (!name.trim()) { show('passkey-error', 'Give the passkey a name first.'); return; }
      post('/account/passkeys/options').then(function (optionsJSON) {
        return W.startRegistration({ optionsJSON: optionsJSON });
      }).then(function (response) {
        return post('/account/passkeys', { name: name, response: response });
      }).then(function (result) {
        window.location.assign(result.redirect);
      }).catch(function (err) { show('passkey-error', explain(err)); });
    }
  });
})();
