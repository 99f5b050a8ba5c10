// Progressive enhancement of the validation list: a "select all" box (for the whole list, or for
// one service's group) ticks or unticks its boxes, and shows "mixed" when only some are ticked.
// Without JavaScript the "Tout cocher" link reloads the list with every box ticked.
(function () {
  "use strict";
  function boxesOf(master) {
    var scope = master.getAttribute("data-select-all");
    var root = scope ? document.getElementById(scope) : master.closest("form");
    return root ? Array.prototype.slice.call(root.querySelectorAll('input[name="mesure"]')) : [];
  }
  function refresh(master) {
    var boxes = boxesOf(master);
    var ticked = boxes.filter(function (b) { return b.checked; }).length;
    master.checked = boxes.length > 0 && ticked === boxes.length;
    master.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var masters = Array.prototype.slice.call(document.querySelectorAll("[data-select-all]"));
    masters.forEach(function (master) {
      master.hidden = false;
      var label = document.querySelector('label[for="' + master.id + '"]');
      if (label) { label.hidden = false; }
      master.addEventListener("change", function () {
        boxesOf(master).forEach(function (box) { box.checked = master.checked; });
        masters.forEach(refresh);
      });
      refresh(master);
    });
    document.querySelectorAll('input[name="mesure"]').forEach(function (box) {
      box.addEventListener("change", function () { masters.forEach(refresh); });
    });
  });
})();
