/* Region picker: province → city → county selects and a search by name or pinyin initials.
 * Plain ES5, no framework, no third-party origin: runs in WeChat's built-in browser.
 * Each <input data-region> keeps the submitted value (a GB/T 2260 code); without JavaScript
 * it stays a text field where a code or a name can be typed (the server resolves names).
 * The table comes from /regions.json (server/regions/gb2260.json: [code, name, parent,
 * pinyin, initials] rows). */
(function () {
  'use strict';
  var fields = document.querySelectorAll('input[data-region]');
  if (!fields.length || !window.XMLHttpRequest || !document.createElement('select').options) { return; }
  var en = document.documentElement.lang === 'en';
  var T = en ? {province: 'Province', city: 'City', county: 'County / district', search: 'Search: name or pinyin initials (e.g. whja)', chosen: 'Chosen: ', none: 'No match', any: '—'}
             : {province: '省份', city: '城市', county: '区县', search: '搜索：地名或拼音首字母（如 whja）', chosen: '已选：', none: '没有找到', any: '请选择'};

  var byCode = {}, children = {'': []};

  function fullName(code) {
    var parts = [], d = byCode[code];
    while (d) {
      if (d.name.indexOf('直辖') < 0 || d.code === code) { parts.unshift(d.name); }
      d = d.parent ? byCode[d.parent] : null;
    }
    return parts.join(' ');
  }

  function pathOf(code) {
    var out = [], d = byCode[code];
    while (d) { out.unshift(d.code); d = d.parent ? byCode[d.parent] : null; }
    return out;
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag), k;
    for (k in attrs) { if (attrs.hasOwnProperty(k)) { e.setAttribute(k, attrs[k]); } }
    if (text) { e.appendChild(document.createTextNode(text)); }
    return e;
  }

  /* A division matches when its name contains q, its pinyin, initials or code start with q, or
   * q is an ancestor's initials followed by its own ("whja": 武汉市 江岸区). */
  function direct(d, q) {
    return d.name.indexOf(q) >= 0 || d.pinyin.indexOf(q) === 0 || d.initials.indexOf(q) === 0 || d.code.indexOf(q) === 0;
  }

  function matches(d, q) {
    if (direct(d, q)) { return true; }
    for (var i = 1; i < q.length; i++) {
      if (d.initials.indexOf(q.slice(i)) !== 0) { continue; }
      for (var a = d.parent ? byCode[d.parent] : null; a; a = a.parent ? byCode[a.parent] : null) {
        if (a.initials.indexOf(q.slice(0, i)) === 0) { return true; }
      }
    }
    return false;
  }

  function search(q, limit) {
    q = q.replace(/\s+/g, '').toLowerCase();
    if (!q) { return []; }
    var hits = [], code, d;
    for (code in byCode) {
      if (!byCode.hasOwnProperty(code)) { continue; }
      d = byCode[code];
      if (matches(d, q)) { hits.push(d); }
    }
    hits.sort(function (a, b) {
      var ea = a.name === q ? 0 : 1, eb = b.name === q ? 0 : 1;
      if (ea !== eb) { return ea - eb; }
      var da = direct(a, q) ? 0 : 1, db = direct(b, q) ? 0 : 1;
      if (da !== db) { return da - db; }
      var la = pathOf(a.code).length, lb = pathOf(b.code).length;
      if (la !== lb) { return lb - la; }
      return a.code < b.code ? -1 : 1;
    });
    return hits.slice(0, limit);
  }

  function enhance(input) {
    var box = el('div', {'class': 'region-picker'});
    var query = el('input', {type: 'search', 'class': 'region-search', placeholder: T.search, autocomplete: 'off',
                             'aria-label': T.search});
    var hits = el('div', {'class': 'region-hits', role: 'listbox'});
    var selects = [el('select', {'aria-label': T.province}), el('select', {'aria-label': T.city}),
                   el('select', {'aria-label': T.county})];
    var chosen = el('p', {'class': 'region-chosen hint', 'aria-live': 'polite'});
    var label = input.closest ? input.closest('label') : null;
    box.appendChild(query); box.appendChild(hits);
    for (var i = 0; i < selects.length; i++) { box.appendChild(selects[i]); }
    box.appendChild(chosen);
    (label || input).parentNode.insertBefore(box, (label || input).nextSibling);
    if (label) { label.classList.add('region-label'); }
    input.type = 'hidden';

    function fill(level, parent, value) {
      var s = selects[level], list = children[parent] || [];
      while (s.options.length) { s.remove(0); }
      s.appendChild(el('option', {value: ''}, T.any));
      for (var j = 0; j < list.length; j++) {
        var o = el('option', {value: list[j].code}, list[j].name);
        if (list[j].code === value) { o.selected = true; }
        s.appendChild(o);
      }
      s.style.display = list.length ? '' : 'none';
      s.disabled = !list.length;
    }

    function show(code) {
      var path = code && byCode[code] ? pathOf(code) : [];
      fill(0, '', path[0]);
      for (var l = 1; l < selects.length; l++) {
        if (path[l - 1]) { fill(l, path[l - 1], path[l]); } else { fill(l, '\u0000', ''); }
      }
      input.value = code || '';
      chosen.textContent = code && byCode[code] ? T.chosen + fullName(code) : '';
      if (input.dispatchEvent && window.Event) {
        try { input.dispatchEvent(new Event('change', {bubbles: true})); } catch (e) { /* old browsers */ }
      }
    }

    function onSelect(level) {
      return function () {
        var v = selects[level].value;
        if (!v && level > 0) { v = selects[level - 1].value; }
        show(v);
      };
    }
    for (var k = 0; k < selects.length; k++) { selects[k].addEventListener('change', onSelect(k)); }

    query.addEventListener('input', function () {
      while (hits.firstChild) { hits.removeChild(hits.firstChild); }
      if (!query.value.trim()) { return; }
      var found = search(query.value, 8);
      if (!found.length) { hits.appendChild(el('p', {'class': 'hint'}, T.none)); }
      for (var j = 0; j < found.length; j++) {
        var b = el('button', {type: 'button', 'class': 'secondary region-hit', 'data-code': found[j].code,
                              role: 'option'}, fullName(found[j].code));
        b.addEventListener('click', function (ev) {
          show(ev.currentTarget.getAttribute('data-code'));
          query.value = '';
          while (hits.firstChild) { hits.removeChild(hits.firstChild); }
        });
        hits.appendChild(b);
      }
    });
    // Enter in the search box picks the first hit instead of submitting the form.
    query.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' || ev.keyCode === 13) {
        ev.preventDefault();
        var first = hits.querySelector('button');
        if (first) { first.click(); }
      }
    });
    show(byCode[input.value] ? input.value : '');
  }

  var xhr = new XMLHttpRequest();
  xhr.open('GET', '/regions.json');
  xhr.onload = function () {
    if (xhr.status !== 200) { return; }
    var rows = JSON.parse(xhr.responseText).divisions, i, d;
    for (i = 0; i < rows.length; i++) {
      d = {code: rows[i][0], name: rows[i][1], parent: rows[i][2], pinyin: rows[i][3], initials: rows[i][4]};
      byCode[d.code] = d;
      (children[d.parent] = children[d.parent] || []).push(d);
    }
    for (i = 0; i < fields.length; i++) { enhance(fields[i]); }
  };
  xhr.send();
}());
