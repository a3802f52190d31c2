// Small progressive enhancements. Everything works without this file.
(function () {
  'use strict';
  var opener = null;
  // Controls marked js-only (copy, test) are shown only when this file runs.
  document.documentElement.classList.add('js');

  // What copying or downloading an element gives: a list one item a line, anything else its text.
  function textOf(target) {
    if (target.matches('ol, ul')) return Array.prototype.map.call(target.querySelectorAll('li'), function (li) { return li.textContent.trim(); }).join('\n');
    return target.textContent.trim();
  }

  // Download buttons: <button data-download-target="id" data-download-name="x.txt"
  // data-download-heading="…">. The file is made here, from the page (a blob: link): what
  // it holds (recovery codes) is never put in a URL or sent anywhere.
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-download-target]');
    if (!button) return;
    var target = document.getElementById(button.getAttribute('data-download-target'));
    if (!target || !window.Blob || !window.URL || !URL.createObjectURL) return;
    var heading = button.getAttribute('data-download-heading') || '';
    var text = (heading ? heading + ' (' + location.origin + ')\r\n' : '') +
      'Each code works once, instead of a code from your authenticator app. Keep this file somewhere safe.\r\n\r\n' +
      textOf(target).split('\n').join('\r\n') + '\r\n';
    var link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
    link.download = button.getAttribute('data-download-name') || 'download.txt';
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  });

  // Copy buttons: <button data-copy-target="id">.
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-copy-target]');
    if (!button) return;
    var target = document.getElementById(button.getAttribute('data-copy-target'));
    if (!target || !navigator.clipboard) return;
    if (button.hasAttribute('data-copies-secret')) {
      var holder = button.closest('dialog, section, body');
      if (holder) holder.setAttribute('data-secret-copied', 'true');
    }
    navigator.clipboard.writeText(textOf(target)).then(function () {
      var label = button.textContent;
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });

  // A link marked data-opens-dialog (delete a secret, create one, add a key) loads its page
  // as a dialog: one listener here instead of hx-get, hx-target and hx-swap repeated on
  // every row. A click with a modifier key, or without htmx, follows the link as a page.
  // The control that opened the dialog is remembered, so focus can go back to it.
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[data-opens-dialog]');
    if (!link || !window.htmx || event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    opener = link;
    window.htmx.ajax('GET', link.getAttribute('href'), { source: link, target: '#dialog-host', swap: 'innerHTML' });
  });

  // A fragment swapped into #dialog-host holding a <dialog> is shown as a modal:
  // the browser keeps focus inside and Escape closes it.
  document.addEventListener('htmx:afterSwap', function (event) {
    var host = document.getElementById('dialog-host');
    if (!host || event.detail.target !== host) return;
    var dialog = host.querySelector('dialog');
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    // A field in error first, then the control marked autofocus (Cancel, in a confirmation),
    // then the first field or button.
    var first = dialog.querySelector('[aria-invalid="true"]') || dialog.querySelector('[autofocus]') || dialog.querySelector('input:not([type=hidden]), button');
    if (first) first.focus();
    dialog.addEventListener('close', function () {
      host.innerHTML = '';
      if (opener && document.body.contains(opener)) opener.focus();
    }, { once: true });
  });

  // After a delete, the dialog closes and the page says so in its live region (as the
  // page without JavaScript does); the opener (the row) is gone, so focus goes to the
  // application's Create button instead.
  document.addEventListener('secret-deleted', function (event) {
    var dialog = document.querySelector('#dialog-host dialog');
    var clientId = event.detail && event.detail.clientId;
    opener = clientId ? document.getElementById('create-' + clientId) : null;
    if (dialog) dialog.close();
    var status = document.getElementById('page-status');
    if (status) status.textContent = (event.detail && event.detail.message) || 'The secret was deleted. Systems that used it can no longer get tokens.';
  });

  // Never leave a shown secret in a page the browser might keep (back/forward cache).
  window.addEventListener('pagehide', function () {
    var host = document.getElementById('dialog-host');
    if (host) host.innerHTML = '';
  });

  // A dialog showing a new secret does not close on Escape: the secret would be lost
  // with one key. Done closes it (after a question, unless the secret was copied).
  document.addEventListener('cancel', function (event) {
    var dialog = event.target;
    if (dialog && dialog.querySelector && dialog.querySelector('#new-secret')) event.preventDefault();
  }, true);

  // Closing buttons inside a dialog.
  document.addEventListener('click', function (event) {
    var close = event.target.closest('[data-close-dialog]');
    if (!close) return;
    var dialog = close.closest('dialog');
    if (close.hasAttribute('data-secret-done')) {
      var holder = close.closest('dialog, section, body');
      var question = document.getElementById('done-confirm');
      var copied = holder && holder.getAttribute('data-secret-copied') === 'true';
      if (!copied && question && question.hidden) {
        event.preventDefault();
        question.hidden = false;
        close.focus();
        return;
      }
    }
    if (dialog) { event.preventDefault(); dialog.close(); }
  });

  // Test this secret: ask the portal's own token endpoint for a token, right here.
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-test-secret]');
    if (!button) return;
    var out = document.getElementById('test-result');
    var secret = document.getElementById('new-secret');
    if (!out || !secret) return;
    var clientId = button.getAttribute('data-client-id');
    var resource = button.getAttribute('data-resource');
    var body = 'grant_type=client_credentials' + (resource ? '&resource=' + encodeURIComponent(resource) : '');
    out.className = 'test-result';
    out.textContent = 'Testing…';
    fetch('/oauth/token', {
      method: 'POST',
      headers: { 'Authorization': 'Basic ' + btoa(clientId + ':' + secret.textContent.trim()), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body,
      credentials: 'omit'
    }).then(function (res) {
      return res.json().then(function (json) { return { status: res.status, json: json }; });
    }).then(function (r) {
      if (r.status === 200) {
        out.className = 'test-result ok';
        out.textContent = 'Works: token for ' + (resource || r.json.scope) + ', valid ' + Math.round(r.json.expires_in / 60) + ' minutes.';
      } else {
        out.className = 'test-result failed';
        out.textContent = 'Does not work: ' + (r.status === 401 ? 'the token endpoint refused this secret (it may have been deleted, or it has expired).' : (r.json.error_description || r.json.error || ('HTTP ' + r.status)));
      }
    }).catch(function () {
      out.className = 'test-result failed';
      out.textContent = 'Does not work: the token endpoint could not be reached.';
    });
  });

  // A file chooser that fills a textarea (the public key upload): the file is read here.
  // A text file (PEM, JWK) goes in as it is; a binary one (a DER .cer/.crt, a .pfx) as
  // base64, which the server reads (and refuses a .pfx with how to export the certificate).
  // A file over data-max-bytes is not read: its error shows in the dialog, at the field.
  document.addEventListener('change', function (event) {
    var input = event.target;
    if (!input || !input.hasAttribute || !input.hasAttribute('data-fills') || !input.files || !input.files[0]) return;
    var target = document.getElementById(input.getAttribute('data-fills'));
    if (!target) return;
    var file = input.files[0];
    var max = Number(input.getAttribute('data-max-bytes') || 0);
    var error = document.getElementById(input.getAttribute('data-fills') + '-file-error');
    if (error) { error.hidden = true; error.textContent = ''; }
    if (max && file.size > max) {
      if (error) { error.textContent = 'The file is too large (' + Math.ceil(file.size / 1024) + ' KB; at most ' + Math.floor(max / 1024) + ' KB); a public key or certificate is a few KB.'; error.hidden = false; }
      input.value = '';
      target.focus();
      return;
    }
    file.arrayBuffer().then(function (buffer) {
      var bytes = new Uint8Array(buffer);
      var text = new TextDecoder().decode(bytes);
      if (/^\s*(-----BEGIN |\{)/.test(text)) {
        target.value = text;
      } else {
        var binary = '';
        for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
        target.value = btoa(binary).replace(/(.{64})/g, '$1\n');
      }
      target.focus();
    });
  });

  // The federated credential's presets (GitHub Actions, Kubernetes, …): with JavaScript a
  // choice fills the issuer and shows what the subject looks like, in place; without, each
  // is a link to the same form with the preset in its query string.
  document.addEventListener('click', function (event) {
    var preset = event.target.closest && event.target.closest('a[data-preset]');
    if (!preset || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    var issuer = document.getElementById('federated-issuer');
    var subject = document.getElementById('federated-subject');
    var format = document.getElementById('federated-subject-format');
    if (!issuer || !subject || !format) return;
    event.preventDefault();
    var list = preset.closest('ul');
    if (list) list.querySelectorAll('[aria-current]').forEach(function (a) { a.removeAttribute('aria-current'); });
    preset.setAttribute('aria-current', 'true');
    document.getElementById('federated-preset').value = preset.getAttribute('data-preset');
    issuer.value = preset.getAttribute('data-issuer');
    format.textContent = preset.getAttribute('data-help');
    subject.placeholder = preset.getAttribute('data-subject');
    (issuer.value ? subject : issuer).focus();
  });

  // Quick choices for a date field: <button data-date-target="id" data-date="YYYY-MM-DD">.
  document.addEventListener('click', function (event) {
    var choice = event.target.closest('[data-date-target]');
    if (!choice) return;
    event.preventDefault();
    var input = document.getElementById(choice.getAttribute('data-date-target'));
    if (input) { input.value = choice.getAttribute('data-date'); input.focus(); }
  });
})();
