"""The one static page ``tfrec serve`` shows at ``/``: a user's history and their top-k.

No build step and no external assets: plain HTML, CSS and a few lines of JavaScript calling
``/history``, ``/items`` and ``/recommend``. ``/?user=42`` fills in and submits the form on
load. A new user is described by picking items (search the catalog by title or id, click to
add): their top-k comes from ``/recommend`` with a ``history`` (models trained with history);
``/?history=50,172,181`` picks those items and asks for their recommendations on load.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tfrec: recommendations</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
  h1 { font-size: 1.4em; } form { margin: 1em 0; }
  input { font: inherit; padding: .3em; width: 12em; } input[type=checkbox] { width: auto; }
  button { font: inherit; padding: .3em 1em; }
  .cols { display: flex; gap: 2em; } .cols > div { flex: 1; }
  ol { padding-left: 1.6em; } li { margin: .15em 0; } .score { color: #777; font-size: .9em; }
  #status { color: #555; } .error { color: #b00; }
</style>
</head>
<body>
<h1>tfrec &mdash; what would this model recommend?</h1>
<form id="form">
  <label>User id <input id="user" name="user" autocomplete="off"></label>
  <label>k <input id="k" type="number" min="1" value="10" style="width:4em"></label>
  <label><input id="seen" type="checkbox"> include items the user already had</label>
  <button type="submit">Recommend</button>
</form>
<form id="pick">
  <label>New user: find items <input id="query" autocomplete="off" placeholder="title or id"></label>
  <button type="button" id="recommend-history">Recommend for the picked items</button>
  <button type="button" id="clear">Clear</button>
  <ol id="found"></ol>
</form>
<p id="status"></p>
<div class="cols">
  <div><h2>History (training items)</h2><ol id="history"></ol></div>
  <div><h2>Top recommendations</h2><ol id="recommendations"></ol></div>
</div>
<script>
const $ = (id) => document.getElementById(id);
function label(item) {
  return (item.title ? item.title + " " : "") + "(" + item.item_id + ")";
}
function fill(list, items, withScore) {
  list.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    li.textContent = label(item);
    if (withScore) {
      const s = document.createElement("span");
      s.className = "score";
      s.textContent = "  " + Number(item.score).toFixed(3);
      li.appendChild(s);
    }
    return li;
  }));
}
async function show(user) {
  const status = $("status");
  status.className = ""; status.textContent = "asking the model...";
  const id = /^-?[0-9]+$/.test(user) ? Number(user) : user;
  const body = {user_id: id, k: Number($("k").value) || 10, include_seen: $("seen").checked};
  try {
    const [rec, hist] = await Promise.all([
      fetch("/recommend", {method: "POST", headers: {"content-type": "application/json"},
                           body: JSON.stringify(body)}).then((r) => r.json()),
      fetch("/history?user_id=" + encodeURIComponent(user)).then((r) => r.json()),
    ]);
    if (rec.error) { status.className = "error"; status.textContent = rec.error; return; }
    fill($("recommendations"), rec.items, true);
    fill($("history"), hist.items || [], false);
    status.textContent = "user " + user + ": " + rec.user_status +
      (rec.seen_items_excluded ? " (training items left out)" : " (training items included)");
    document.body.dataset.ready = "yes";
  } catch (e) {
    status.className = "error"; status.textContent = "request failed: " + e;
  }
}
$("form").addEventListener("submit", (event) => { event.preventDefault(); show($("user").value.trim()); });
let picked = [];
$("query").addEventListener("input", async () => {
  const q = $("query").value.trim();
  if (!q) { $("found").replaceChildren(); return; }
  const found = await fetch("/items?q=" + encodeURIComponent(q)).then((r) => r.json());
  $("found").replaceChildren(...(found.items || []).map((item) => {
    const li = document.createElement("li");
    const add = document.createElement("button");
    add.type = "button"; add.textContent = "add"; add.className = "add";
    add.onclick = () => { picked.push(item); fill($("history"), picked, false); };
    li.append(add, " " + label(item));
    return li;
  }));
});
$("clear").onclick = () => { picked = []; fill($("history"), picked, false); };
$("recommend-history").onclick = async () => {
  const status = $("status");
  if (!picked.length) { status.className = "error"; status.textContent = "pick items first"; return; }
  const body = {history: picked.map((item) => item.item_id), k: Number($("k").value) || 10};
  const rec = await fetch("/recommend", {method: "POST", headers: {"content-type": "application/json"},
                                         body: JSON.stringify(body)}).then((r) => r.json());
  if (rec.error) { status.className = "error"; status.textContent = rec.error; return; }
  fill($("recommendations"), rec.items, true);
  status.className = ""; status.textContent = "new user from " + picked.length + " picked item(s); they are left out";
  document.body.dataset.ready = "yes";
};
const params = new URLSearchParams(location.search);
const preset = params.get("user");
if (preset) { $("user").value = preset; show(preset); }
const presetHistory = params.get("history");
if (presetHistory) {
  (async () => {
    for (const raw of presetHistory.split(",")) {
      const id = raw.trim();
      const found = await fetch("/items?q=" + encodeURIComponent(id)).then((r) => r.json());
      const exact = (found.items || []).find((item) => String(item.item_id) === id);
      picked.push(exact || {item_id: /^-?[0-9]+$/.test(id) ? Number(id) : id});
    }
    fill($("history"), picked, false);
    await $("recommend-history").onclick();
  })();
}
</script>
</body>
</html>
"""
