// Progressive enhancement of the public questionnaire: conditional questions appear only when
// their condition is met, and the points left to allocate are announced. Without JavaScript every
// question shows with its condition written out, and the server applies the same rules.
(function () {
  "use strict";
  function chosen(form, name) {
    var out = [];
    form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
      if (input.closest("[hidden]")) { return; }  // a question not asked: the server ignores it too
      if ((input.type === "radio" || input.type === "checkbox") ? input.checked : input.value) {
        out.push(input.value);
      }
    });
    return out;
  }
  function refresh(form) {
    form.querySelectorAll("[data-condition-field]").forEach(function (block) {
      var wanted = JSON.parse(block.getAttribute("data-condition-values") || "[]");
      var given = chosen(form, block.getAttribute("data-condition-field"));
      var shown = given.some(function (v) { return wanted.indexOf(v) !== -1; });
      block.hidden = !shown;
    });
    form.querySelectorAll("[data-points-total]").forEach(function (line) {
      var total = parseInt(line.getAttribute("data-points-total"), 10);
      var used = 0;
      form.querySelectorAll('[data-points-group="' + line.getAttribute("data-points-for") + '"]').forEach(function (input) {
        var value = parseInt(input.value, 10);
        if (!isNaN(value) && value > 0) { used += value; }
      });
      var left = total - used;
      line.textContent = left >= 0
        ? "Points restants : " + left + " sur " + total + "."
        : "Vous avez donné " + (-left) + " point(s) de trop : retirez-en.";
      line.classList.toggle("field-error", left < 0);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("questionnaire");
    if (!form) { return; }
    form.addEventListener("change", function () { refresh(form); });
    form.addEventListener("input", function () { refresh(form); });
    refresh(form);
    var summary = document.getElementById("erreurs");
    if (summary) { summary.focus(); }
  });
})();
