// civitai-vault gallery: small progressive enhancements. Every page works without it.
// Text from Civitai is never turned into markup here: HTML comes escaped from the
// server and is parsed inertly (DOMParser), copied text goes through textContent.
"use strict";

(function () {
  // Filters: a changed select or checkbox applies at once.
  function autosubmit() {
    document.querySelectorAll("[data-autosubmit]").forEach(function (field) {
      field.addEventListener("change", function () { field.form.requestSubmit(); });
    });
  }

  // Short URLs: fields left empty (or at their default) are not sent. The server
  // reads a missing field and an empty one alike, so this is only cosmetic.
  function cleanSubmits() {
    var form = document.getElementById("filters");
    if (!form) return;
    form.addEventListener("submit", function () {
      Array.from(form.elements).forEach(function (field) {
        var unchanged = field.dataset.default !== undefined && field.value === field.dataset.default;
        if (field.name && (field.value === "" || unchanged)) field.disabled = true;
      });
    });
    // Coming back to this page from the history, the fields must work again.
    window.addEventListener("pageshow", function () {
      Array.from(form.elements).forEach(function (field) { field.disabled = false; });
    });
  }

  // The facet panel is counted separately, so the results never wait for it.
  function loadFacets() {
    var panel = document.getElementById("facets");
    if (!panel || !panel.dataset.src) return;
    panel.textContent = "Counting…";
    fetch(panel.dataset.src, { headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        panel.replaceChildren.apply(panel, Array.from(doc.body.childNodes));
        panel.dataset.loaded = "true";
      })
      .catch(function () {
        panel.textContent = "Counts could not be loaded; the filters still work.";
      });
  }

  // Infinite scroll: when the "Next" link comes into view, fetch that page and
  // move its tiles here. Without JavaScript the link simply pages.
  function infiniteScroll() {
    var grid = document.getElementById("grid");
    var next = document.getElementById("next-page");
    if (!grid || !next || !("IntersectionObserver" in window)) return;
    var loading = false;
    var observer = new IntersectionObserver(function (entries) {
      if (!entries.some(function (e) { return e.isIntersecting; }) || loading) return;
      var link = document.getElementById("next-page");
      if (!link) { observer.disconnect(); return; }
      loading = true;
      fetch(link.href, { headers: { Accept: "text/html" } })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          doc.querySelectorAll("#grid > .tile").forEach(function (tile) {
            grid.appendChild(document.adoptNode(tile));
          });
          var newer = doc.getElementById("next-page");
          if (newer) {
            link.href = newer.href;
          } else {
            observer.disconnect();
            link.remove();
          }
        })
        .finally(function () { loading = false; });
    }, { rootMargin: "800px 0px" });
    observer.observe(next);
  }

  // Videos in the grid play while the pointer (or focus) is on them.
  function hoverVideos() {
    var grid = document.getElementById("grid");
    if (!grid) return;
    function start(tile) {
      if (!tile || !tile.dataset.video || tile.querySelector("video")) return;
      var video = document.createElement("video");
      video.muted = true;
      video.loop = true;
      video.playsInline = true;
      video.src = tile.dataset.video;
      var poster = tile.querySelector("img");
      if (poster) video.poster = poster.src;
      tile.querySelector("a").appendChild(video);
      video.play().catch(function () { /* the poster stays */ });
    }
    function stop(tile) {
      var video = tile && tile.querySelector("video");
      if (video) { video.pause(); video.remove(); }
    }
    grid.addEventListener("pointerover", function (e) { start(e.target.closest(".tile")); });
    grid.addEventListener("pointerout", function (e) {
      var tile = e.target.closest(".tile");
      if (tile && !tile.contains(e.relatedTarget)) stop(tile);
    });
    grid.addEventListener("focusin", function (e) { start(e.target.closest(".tile")); });
    grid.addEventListener("focusout", function (e) { stop(e.target.closest(".tile")); });
  }

  // Copy buttons: data-copy names the element whose text goes to the clipboard.
  function copyButtons() {
    var status = document.getElementById("copy-status");
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source) return;
        var text = source.textContent;
        copyText(text).then(function () {
          if (status) status.textContent = "Copied " + button.textContent.replace(/^Copy\s*/, "") + ".";
          button.dataset.copied = "true";
        }, function () {
          if (status) status.textContent = "The browser did not allow copying; select the text instead.";
        });
      });
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      area.remove();
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }


  // X, XXX (and Blocked) images: blurred, hidden or shown, as this browser was last told.
  // The choice lives in localStorage only; the server never knows it.
  var ADULT_KEY = "civitai-vault.adult";
  var ADULT_MODES = ["blur", "hide", "show"];

  function storedAdultMode() {
    try {
      var mode = window.localStorage.getItem(ADULT_KEY);
      return ADULT_MODES.indexOf(mode) >= 0 ? mode : "blur";
    } catch (e) {
      return "blur";
    }
  }

  function adultSetting() {
    var root = document.documentElement;
    root.dataset.adult = storedAdultMode();
    document.querySelectorAll("#adult-mode").forEach(function (select) {
      select.value = root.dataset.adult;
      select.addEventListener("change", function () {
        root.dataset.adult = select.value;
        try { window.localStorage.setItem(ADULT_KEY, select.value); } catch (e) { /* private mode */ }
      });
    });
    var reveal = document.getElementById("reveal");
    if (reveal) {
      reveal.addEventListener("click", function () {
        document.querySelector(".detail").classList.add("revealed");
        reveal.remove();
      });
    }
  }

  // Phones: the filters wait behind a button. Without JavaScript the button is a
  // link to the panel, which CSS shows when it is the page's target.
  function filtersButton() {
    var button = document.getElementById("filters-button");
    var panel = document.getElementById("filters-panel");
    if (!button || !panel) return;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var open = !panel.classList.contains("open");
      panel.classList.toggle("open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) panel.scrollIntoView({ block: "start" });
    });
  }

  // The detail page: Left and Right arrows step through the results, Escape goes back.
  function keyboardNavigation() {
    var links = {};
    document.querySelectorAll("a[data-key]").forEach(function (link) {
      links[link.dataset.key] = link;
    });
    if (!Object.keys(links).length) return;
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      var target = event.target;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|VIDEO)$/.test(target.tagName))) return;
      var link = links[event.key];
      if (!link) return;
      event.preventDefault();
      window.location.assign(link.href);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    adultSetting();
    filtersButton();
    keyboardNavigation();
    autosubmit();
    cleanSubmits();
    loadFacets();
    infiniteScroll();
    hoverVideos();
    copyButtons();
  });
})();
