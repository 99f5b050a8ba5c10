// The grouped menu: one group open at a time; Escape or a click elsewhere closes it.
(function () {
  "use strict";
  var nav = document.querySelector(".main-nav");
  if (!nav) { return; }
  var groups = Array.prototype.slice.call(nav.querySelectorAll(".nav-group details"));
  // on a phone the whole menu starts folded under « Menu » (open without JavaScript)
  var all = nav.querySelector(".nav-all");
  if (all && window.matchMedia("(max-width: 40rem)").matches) { all.open = false; }
  groups.forEach(function (group) {
    group.addEventListener("toggle", function () {
      if (!group.open) { return; }
      groups.forEach(function (other) { if (other !== group) { other.open = false; } });
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    groups.forEach(function (group) {
      if (group.open) {
        group.open = false;
        group.querySelector("summary").focus();
      }
    });
  });
  document.addEventListener("click", function (event) {
    if (nav.contains(event.target)) { return; }
    groups.forEach(function (group) { group.open = false; });
  });
})();
