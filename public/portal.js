// Small progressive enhancements. Everything works without this file.
(function () {
  'use strict';
  var opener = null;

  // Copy buttons: <button data-copy-target="id">.
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-copy-target]');
    if (!button) return;
    var target = document.getElementById(button.getAttribute('data-copy-target'));
    if (!target || !navigator.clipboard) return;
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = 'Copied';
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });

  // Remember which control opened a dialog, so focus can go back to it.
  document.addEventListener('htmx:beforeRequest', function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.hasAttribute('data-opens-dialog')) opener = elt;
  });

  // A fragment swapped into #dialog-host holding a <dialog> is shown as a modal:
  // the browser keeps focus inside and Escape closes it.
  document.addEventListener('htmx:afterSwap', function (event) {
    var host = document.getElementById('dialog-host');
    if (!host || event.detail.target !== host) return;
    var dialog = host.querySelector('dialog');
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    var first = dialog.querySelector('[autofocus], [aria-invalid="true"], input:not([type=hidden]), button');
    if (first) first.focus();
    dialog.addEventListener('close', function () {
      host.innerHTML = '';
      if (opener && document.body.contains(opener)) opener.focus();
    }, { once: true });
  });

  // After a delete, the dialog closes; its opener (the row) is gone, so focus the
  // application's Create button instead.
  document.addEventListener('secret-deleted', function (event) {
    var dialog = document.querySelector('#dialog-host dialog');
    var clientId = event.detail && event.detail.clientId;
    opener = clientId ? document.getElementById('create-' + clientId) : null;
    if (dialog) dialog.close();
  });

  // Never leave a shown secret in a page the browser might keep (back/forward cache).
  window.addEventListener('pagehide', function () {
    var host = document.getElementById('dialog-host');
    if (host) host.innerHTML = '';
  });

  // Closing buttons inside a dialog.
  document.addEventListener('click', function (event) {
    var close = event.target.closest('[data-close-dialog]');
    if (!close) return;
    var dialog = close.closest('dialog');
    if (dialog) { event.preventDefault(); dialog.close(); }
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
