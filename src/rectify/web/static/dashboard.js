// The rectify dashboard: district overview and round view, live over graphql-transport-ws,
// with time travel over the log. Plain JavaScript over the project's own GraphQL API.
"use strict";

const STATUS = { RAISED: "已交办", ASSIGNED: "已分工", IN_PROGRESS: "整改中", REPORTED: "已报整改", LONG_TERM: "长期坚持",
                 VERIFIED: "已验收", CLOSED: "已销号" };
const LIGHT = { RED: "红灯", YELLOW: "黄灯", GREEN: "绿灯" };

const state = {
  token: localStorage.getItem("rectify-token") || new URLSearchParams(location.search).get("token") || "",
  asOf: null,          // null: live; else {position} or {recordedAt}
  head: 0,
  role: "PUBLIC",
  ws: null,
  unsubscribe: [],
  renderId: 0,
};

// -- GraphQL over HTTP and WebSocket --------------------------------------------------------------

async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  if (response.status === 401) throw new Error("令牌无效或已撤销");
  const answer = await response.json();
  if (answer.errors) throw new Error(answer.errors.map((e) => e.message).join("；"));
  return answer.data;
}

// A multipart request (the GraphQL multipart request spec): each file in a part of its own, mapped to its variable.
// The GraphQL-Require-Preflight header is what the server asks of every multipart request (no form can send it).
async function gqlUpload(query, variables, files) {
  const form = new FormData();
  const names = Object.keys(files);
  form.append("operations", JSON.stringify({ query, variables: { ...variables, ...Object.fromEntries(names.map((n) => [n, null])) } }));
  form.append("map", JSON.stringify(Object.fromEntries(names.map((n, i) => [String(i), ["variables." + n]]))));
  names.forEach((n, i) => form.append(String(i), files[n], files[n].name));
  const headers = { "GraphQL-Require-Preflight": "1" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch("/graphql", { method: "POST", headers, body: form });
  const answer = await response.json();
  if (answer.errors) throw new Error(answer.errors.map((e) => e.message).join("；"));
  return answer.data;
}

function socket() {
  if (!state.ws) {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql";
    state.ws = graphqlWs.createClient({
      url,
      connectionParams: () => (state.token ? { authorization: "Bearer " + state.token } : {}),
      retryAttempts: 100,
      shouldRetry: () => true,
    });
  }
  return state.ws;
}

function subscribe(query, variables, onData) {
  const stop = socket().subscribe({ query, variables }, {
    next: (message) => message.data && onData(message.data),
    error: (error) => console.warn("subscription", error),
    complete: () => {},
  });
  state.unsubscribe.push(stop);
}

function stopSubscriptions() {
  state.unsubscribe.splice(0).forEach((stop) => stop());
}

// -- helpers ----------------------------------------------------------------------------------------

const $ = (selector, root = document) => root.querySelector(selector);
const text = (value) => (value === null || value === undefined ? "—" : String(value));
const escape = (value) => text(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const percent = (rate) => (rate === null || rate === undefined ? "—" : rate + "%");
const asOfVariable = () => state.asOf;

function kpi(label, value, id, bad = false) {
  return `<div class="kpi${bad ? " bad" : ""}" data-kpi="${id}"><div class="value" data-testid="kpi-${id}">${escape(value)}</div>` +
         `<div class="label">${label}</div></div>`;
}

function progressKpis(p) {
  return [
    kpi("问题总数", p.total, "total"), kpi("已完成", p.completed, "completed"), kpi("长期坚持", p.longTerm, "long-term"),
    kpi("整改中", p.inProgress, "in-progress"), kpi("未启动", p.notStarted, "not-started"),
    kpi("完成率", percent(p.completionRate), "rate"), kpi("逾期", p.overdue, "overdue"),
    kpi("红/黄/绿灯", `${p.red}/${p.yellow}/${p.green}`, "lights"),
    kpi("不宜公开（未显示）", p.undisclosed, "undisclosed"),
    kpi("长效机制未达标（期）", p.rulePeriodsMissed, "rule-missed", p.rulePeriodsMissed > 0),
    kpi("回头看逾期", p.relapseChecksOverdue, "relapse-overdue", p.relapseChecksOverdue > 0),
    kpi("反弹率", percent(p.relapseRate), "relapse-rate"),
    kpi("屡查屡犯", `${p.repeats}（${percent(p.repeatRate)}）`, "repeats"),
  ].join("");
}

// -- evidence: files are fetched with the caller's token, and shown from blob: URLs ---------------------------

async function fetchFile(url) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.blob();
}

function evidenceCell(cell, items) {
  const box = document.createElement("div");
  box.className = "evidence";
  for (const e of items) {
    const link = document.createElement("a");
    link.href = e.url;
    link.title = `${e.fileName}（${e.mediaType}，${e.size} 字节）${e.note ? "：" + e.note : ""}`;
    link.dataset.testid = "evidence-link";
    if (e.thumbnailUrl) {
      const image = document.createElement("img");
      image.alt = e.fileName;
      image.dataset.testid = "evidence-thumbnail";
      fetchFile(e.thumbnailUrl).then((blob) => { image.src = URL.createObjectURL(blob); }).catch((error) => console.warn(error));
      link.appendChild(image);
    } else {
      link.textContent = "📄 " + e.fileName;
    }
    if (e.disclosure === "INTERNAL") {
      const mark = document.createElement("span");
      mark.className = "internal";
      mark.textContent = "内部";
      link.appendChild(mark);
    }
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const saved = document.createElement("a");
      saved.href = URL.createObjectURL(await fetchFile(e.url));
      saved.download = e.fileName;
      saved.click();
      setTimeout(() => URL.revokeObjectURL(saved.href), 10000);
    });
    box.appendChild(link);
  }
  cell.appendChild(box);
}

const PERIOD = { MET: "达标", MISSED: "未达标", RUNNING: "进行中", ENDED: "提前结束" };
const EVERY = { MONTH: "每月", QUARTER: "每季度", HALF_YEAR: "每半年", YEAR: "每年" };

function renderRules(rules) {
  const box = $("[data-testid=rules]");
  if (!rules.length) { box.innerHTML = `<p class="notice">本轮尚无长效机制。</p>`; return; }
  box.innerHTML = rules.map((r) => `<div class="rule" data-testid="rule"><span class="title">${escape(r.title)}</span>` +
    `<span class="terms">${EVERY[r.period] || r.period}至少 ${r.minimum} 次${escape(r.activityKind)}</span>` +
    `<div class="periods">${r.periods.map((p) => `<span class="period ${p.status}" data-testid="rule-period" data-status="${p.status}" ` +
      `title="${p.startsOn} 至 ${p.endsOn}：${p.count}/${p.minimum}">${escape(p.label)} ${PERIOD[p.status]}（${p.count}/${p.minimum}）</span>`).join("")}</div></div>`).join("");
}

function renderRelapseChecks(checks) {
  const body = $("[data-testid=relapse-checks] tbody");
  if (!checks.length) { body.innerHTML = `<tr><td colspan="5" class="notice">暂无到期或逾期的回头看。</td></tr>`; return; }
  body.innerHTML = checks.map((c) => `<tr data-testid="relapse-check"><td class="state-${c.state}">${c.state === "OVERDUE" ? "逾期" : "到期"}</td>` +
    `<td>${c.dueOn}</td><td>${c.closedOn}</td><td>${escape(c.finding.code)}</td><td>${escape(c.finding.heading)}</td></tr>`).join("");
}

function rateRows(body, rates) {
  body.innerHTML = rates.map((r) => `<tr><td>${escape(r.label)}</td><td class="num">${r.whole}</td>` +
    `<td class="num">${r.part}</td><td class="num">${percent(r.rate)}</td></tr>`).join("");
}

function sortable(table) {
  table.querySelectorAll("th[data-key]").forEach((th, index) => {
    th.addEventListener("click", () => {
      const ascending = !th.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach((h) => h.classList.remove("sorted-asc", "sorted-desc"));
      th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
      const rows = Array.from(table.tBodies[0].rows);
      rows.sort((a, b) => {
        const x = a.cells[index].dataset.sort ?? a.cells[index].textContent;
        const y = b.cells[index].dataset.sort ?? b.cells[index].textContent;
        const nx = Number(x), ny = Number(y);
        const order = !isNaN(nx) && !isNaN(ny) && x !== "" && y !== "" ? nx - ny : x.localeCompare(y, "zh-CN");
        return ascending ? order : -order;
      });
      rows.forEach((row) => table.tBodies[0].appendChild(row));
    });
  });
}

function showError(error) {
  $("#view").innerHTML = `<p class="error" data-testid="error">${escape(error.message || error)}</p>`;
}

// -- time travel --------------------------------------------------------------------------------------

function setLive(live) {
  const badge = $(".live");
  badge.textContent = live ? "● 实时" : "◷ 回溯中";
  badge.classList.toggle("past", !live);
  $("#position-label").textContent = live ? "实时" : state.asOf.position !== undefined ? `位置 ${state.asOf.position}` : state.asOf.recordedAt;
}

async function refreshHead() {
  const data = await gql("query { head }");
  state.head = data.head;
  const slider = $("#position");
  slider.max = String(state.head);
  if (!state.asOf) slider.value = String(state.head);
}

function placeMarks(publications) {
  const marks = $("#marks");
  marks.innerHTML = "";
  const max = Math.max(1, state.head);
  for (const p of publications) {
    const mark = document.createElement("span");
    mark.className = "mark";
    const at = (100 * p.position) / max;
    mark.style.left = `${at}%`;
    if (at > 85) mark.style.transform = "translateX(-100%)";  // near the end: the label reads leftwards
    mark.textContent = `▲ 通报 ${p.publishedOn}`;
    mark.title = `${p.title}（位置 ${p.position}）`;
    mark.dataset.position = p.position;
    mark.addEventListener("click", () => travel({ position: p.position }));
    marks.appendChild(mark);
  }
}

function travel(asOf) {
  state.asOf = asOf;
  if (asOf && asOf.position !== undefined) $("#position").value = String(asOf.position);
  setLive(!asOf);
  route();
}

// -- district overview --------------------------------------------------------------------------------

const PROGRESS = "total completed longTerm inProgress notStarted completionRate overdue red yellow green undisclosed " +
  "rulePeriodsMissed relapseChecksOverdue relapseRate repeats repeatRate";

async function renderDistrict(renderId) {
  const data = await gql(`query District($asOf: AsOf) {
    progress(asOf: $asOf) { ${PROGRESS} }
    rounds(asOf: $asOf) { id teamName publications { position publishedOn title }
      unitProgress { unit { id shortName } progress { ${PROGRESS} } } }
    relapseRates(by: ROUND, asOf: $asOf) { label part whole rate }
    repeatRates(by: UNIT, asOf: $asOf) { label part whole rate }
  }`, { asOf: asOfVariable() });
  if (renderId !== state.renderId) return;
  const view = $("#view");
  view.innerHTML = "";
  view.appendChild($("#district-template").content.cloneNode(true));
  $("[data-testid=district-kpis]").innerHTML = progressKpis(data.progress);
  const body = $("[data-testid=district-table] tbody");
  for (const round of data.rounds) {
    for (const { unit, progress: p } of round.unitProgress) {
      const row = body.insertRow();
      row.className = "clickable";
      row.dataset.round = round.id;
      row.innerHTML = `<td>${escape(round.teamName)}</td><td>${escape(unit.shortName)}</td>` +
        `<td class="num">${p.total}</td><td class="num">${p.completed}</td><td class="num">${p.longTerm}</td>` +
        `<td class="num">${p.inProgress}</td><td class="num">${p.notStarted}</td>` +
        `<td class="num" data-sort="${p.completionRate ?? -1}">${percent(p.completionRate)}</td>` +
        `<td class="num">${p.overdue}</td><td class="num" data-sort="${p.red}">` +
        `<span class="light RED"></span>${p.red} <span class="light YELLOW"></span>${p.yellow} ` +
        `<span class="light GREEN"></span>${p.green}</td>`;
      row.addEventListener("click", () => { location.hash = `#/round/${round.id}`; });
    }
  }
  sortable($("[data-testid=district-table]"));
  rateRows($("[data-testid=relapse-rates] tbody"), data.relapseRates);
  rateRows($("[data-testid=repeat-rates] tbody"), data.repeatRates);
  placeMarks(data.rounds.flatMap((r) => r.publications));
  $("[data-testid=where]").textContent = "全区总览";
}

// -- round view -------------------------------------------------------------------------------------------

async function renderRound(roundId, renderId) {
  const data = await gql(`query Round($id: ID!, $asOf: AsOf) {
    me { role }
    round(id: $id, asOf: $asOf) {
      id teamName authority stationedFrom stationedTo feedbackOn rectificationUntil
      units { shortName name }
      publications { position publishedOn title }
      progress { ${PROGRESS} position activities { kind unit records total series { on total } } }
      categoryProgress { path title progress { total completed longTerm inProgress notStarted } }
      findings(first: 100) { total items { id code place heading department person status light deadline { label }
        evidence { id fileName mediaType size note disclosure url thumbnailUrl } } }
    }
    rules(scope: { roundId: $id }, asOf: $asOf) { id title activityKind minimum period
      periods { label startsOn endsOn count minimum status } }
    relapseChecks(scope: { roundId: $id }, asOf: $asOf) { closedOn dueOn state finding { code heading } }
  }`, { id: roundId, asOf: asOfVariable() });
  if (renderId !== state.renderId) return;
  const round = data.round;
  const view = $("#view");
  if (!round) { view.innerHTML = `<p class="error">没有这一轮巡察（或尚未开始于所选时间）。</p>`; return; }
  view.innerHTML = "";
  view.appendChild($("#round-template").content.cloneNode(true));
  $("[data-testid=round-title]").textContent = `${round.teamName} · ${round.units.map((u) => u.shortName).join("、")}`;
  $("[data-testid=round-meta]").textContent =
    `进驻 ${round.stationedFrom} 至 ${round.stationedTo}；反馈 ${text(round.feedbackOn)}；集中整改至 ${text(round.rectificationUntil)}；` +
    `日志位置 ${round.progress.position}`;
  $("[data-testid=round-kpis]").innerHTML = progressKpis(round.progress);

  const categories = round.categoryProgress;
  const label = (c) => `（${"一二三四五六七八九十"[c.path[0] - 1] || c.path[0]}）${c.title.replace(/^关于/, "").slice(0, 10)}…`;
  Plotly.react("category-chart", [
    { type: "bar", name: "已完成", x: categories.map(label), y: categories.map((c) => c.progress.completed), marker: { color: "#2e7d32" } },
    { type: "bar", name: "长期坚持", x: categories.map(label), y: categories.map((c) => c.progress.longTerm), marker: { color: "#1565c0" } },
    { type: "bar", name: "整改中", x: categories.map(label), y: categories.map((c) => c.progress.inProgress), marker: { color: "#f9a825" } },
    { type: "bar", name: "未启动", x: categories.map(label), y: categories.map((c) => c.progress.notStarted), marker: { color: "#9e9e9e" } },
  ], { barmode: "stack", margin: { t: 10, r: 10, b: 60, l: 30 }, legend: { orientation: "h" } }, { displayModeBar: false, responsive: true });

  // Counts (次, 人, 项…) on the left axis; money (元, 万元) on the right, so neither flattens the other.
  const activities = round.progress.activities;
  const money = (unit) => unit === "元" || unit === "万元" || unit === "亿元";
  Plotly.react("activity-chart", activities.map((a) => ({
    type: "scatter", mode: "lines+markers", line: { shape: "hv" }, name: `${a.kind}（${a.unit}）`,
    x: a.series.map((p) => p.on), y: a.series.map((p) => Number(p.total)), yaxis: money(a.unit) ? "y2" : "y",
  })), {
    margin: { t: 10, r: 50, b: 40, l: 40 }, legend: { orientation: "h" },
    yaxis: { title: { text: "次数" }, rangemode: "tozero" },
    yaxis2: { title: { text: "金额" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false },
  }, { displayModeBar: false, responsive: true });

  const activityBody = $("[data-testid=activity-table] tbody");
  for (const a of activities) {
    const row = activityBody.insertRow();
    row.dataset.kind = a.kind;
    row.innerHTML = `<td>${escape(a.kind)}</td><td class="num">${a.records}</td>` +
      `<td class="num" data-testid="activity-total-${escape(a.kind)}">${escape(a.total)}</td><td>${escape(a.unit)}</td>`;
  }

  const ledgerBody = $("[data-testid=ledger-table] tbody");
  for (const f of round.findings.items) {
    const row = ledgerBody.insertRow();
    row.innerHTML = `<td data-sort="${f.place.map((n) => String(n).padStart(3, "0")).join(".")}">${escape(f.code)}</td>` +
      `<td>${escape(f.heading)}</td><td>${escape(f.department)}</td><td>${escape(f.person)}</td>` +
      `<td>${escape(f.deadline ? f.deadline.label : null)}</td><td>${escape(STATUS[f.status] || f.status)}</td>` +
      `<td data-sort="${f.light}"><span class="light ${f.light}" title="${LIGHT[f.light]}"></span></td><td></td>`;
    row.dataset.code = f.code;
    evidenceCell(row.cells[7], f.evidence);
  }
  showFiles(round);
  renderRules(data.rules);
  renderRelapseChecks(data.relapseChecks);
  sortable($("[data-testid=ledger-table]"));
  placeMarks(round.publications);
  $("[data-testid=where]").textContent = round.teamName;
  await renderFeed(roundId, renderId);
}

async function renderFeed(roundId, renderId) {
  const feed = $("[data-testid=feed]");
  if (!["INSPECTOR", "ADMIN", "UNIT"].includes(state.role)) {
    feed.innerHTML = `<li class="notice">动态记录向巡察机构和被巡察单位开放；请使用令牌查看。</li>`;
    return;
  }
  const before = state.asOf && state.asOf.position !== undefined ? state.asOf.position : state.head;
  const data = await gql(`query Feed($upTo: Int) { latestEvents(upTo: $upTo, last: 20) { events { position type actor recordedAt businessDate } } }`,
                         { upTo: before });
  if (renderId !== state.renderId) return;
  data.latestEvents.events.reverse().forEach((e) => feedItem(feed, e, false));
}

function feedItem(feed, e, live) {
  const item = document.createElement("li");
  item.dataset.position = e.position;
  item.innerHTML = `<span class="when">#${e.position} ${e.recordedAt.slice(0, 19).replace("T", " ")}</span> ` +
    `${escape(e.type)} · ${escape(e.actor)}${e.businessDate ? " · 业务日期 " + e.businessDate : ""}`;
  if (live) feed.prepend(item); else feed.appendChild(item);
}

// -- files: 台账 downloads and import, evidence upload (outside the view, which is drawn again on each change) ---

function showFiles(round) {
  const panel = $("#files");
  panel.hidden = false;
  panel.dataset.round = round.id;
  const writer = state.role !== "PUBLIC";
  $("#import-form").hidden = !writer;
  $("#evidence-form").hidden = !writer;
  const select = $("#evidence-finding");
  const chosen = select.value;
  select.innerHTML = round.findings.items.filter((f) => f.id)
    .map((f) => `<option value="${escape(f.id)}">${escape(f.code)} ${escape(f.heading)}</option>`).join("");
  if (chosen) select.value = chosen;
}

async function download(url, name) {
  const saved = document.createElement("a");
  saved.href = URL.createObjectURL(await fetchFile(url));
  saved.download = name;
  document.body.appendChild(saved);
  saved.click();
  saved.remove();
  setTimeout(() => URL.revokeObjectURL(saved.href), 10000);
}

function asOfQuery() {
  if (!state.asOf) return "";
  return "?asOf=" + encodeURIComponent(state.asOf.position !== undefined ? state.asOf.position : state.asOf.recordedAt);
}

const IMPORT_LEDGER = `mutation($round: ID!, $file: Upload!, $dryRun: Boolean!) {
  importLedger(roundId: $round, file: $file, dryRun: $dryRun) {
    __typename
    ... on LedgerImported { dryRun events unchanged lines rows { row code events { event column says } } }
    ... on SheetRefused { message errors { sheet row column reason } }
    ... on InvalidInput { message } ... on NotFound { message } ... on Forbidden { message }
    ... on Conflict { message } ... on IllegalTransition { message }
  }
}`;

async function importLedger(dryRun) {
  const file = $("#import-file").files[0];
  const result = $("#import-result");
  const rows = $("#import-rows");
  if (!file) { result.textContent = "请选择 .xlsx 文件"; return; }
  result.textContent = dryRun ? "正在试导入…" : "正在导入…";
  rows.innerHTML = "";
  try {
    const answer = (await gqlUpload(IMPORT_LEDGER, { round: $("#files").dataset.round, dryRun }, { file })).importLedger;
    if (answer.__typename === "LedgerImported") {
      result.dataset.state = answer.dryRun ? "dry-run" : "imported";
      result.textContent = answer.dryRun
        ? `试导入：将写入 ${answer.events} 个事件；${answer.unchanged}/${answer.lines} 行无变化。未写入任何内容。`
        : `已导入：写入 ${answer.events} 个事件；${answer.unchanged}/${answer.lines} 行无变化。`;
      for (const r of answer.rows) {
        const item = document.createElement("li");
        item.textContent = `第 ${r.row} 行（${r.code}）：` + r.events.map((e) => `${e.event}（${e.column}）`).join("、");
        rows.appendChild(item);
      }
      $("#import-run").disabled = !answer.dryRun || answer.events === 0;
    } else if (answer.__typename === "SheetRefused") {
      result.dataset.state = "refused";
      result.textContent = `未导入：${answer.errors.length} 处问题`;
      for (const e of answer.errors) {
        const item = document.createElement("li");
        item.className = "error";
        item.textContent = `${e.sheet || "工作簿"}${e.row ? " 第 " + e.row + " 行" : ""}${e.column ? "，" + e.column + " 列" : ""}：${e.reason}`;
        rows.appendChild(item);
      }
      $("#import-run").disabled = true;
    } else {
      result.dataset.state = "refused";
      result.textContent = answer.message;
      $("#import-run").disabled = true;
    }
  } catch (error) {
    result.dataset.state = "refused";
    result.textContent = String(error.message || error);
  }
}

const ATTACH_EVIDENCE = `mutation($input: AttachEvidenceInput!, $file: Upload!) {
  attachEvidence(input: $input, file: $file) {
    __typename ... on Accepted { id } ... on InvalidInput { message } ... on NotFound { message }
    ... on Forbidden { message } ... on IllegalTransition { message } ... on Conflict { message }
  }
}`;

async function attachEvidence() {
  const file = $("#evidence-file").files[0];
  const result = $("#evidence-result");
  if (!file) { result.textContent = "请选择文件"; return; }
  const input = {
    findingId: $("#evidence-finding").value, target: $("#evidence-target").value,
    disclosure: $("#evidence-disclosure").value, note: $("#evidence-note").value,
  };
  result.textContent = "正在上传…";
  try {
    const answer = (await gqlUpload(ATTACH_EVIDENCE, { input }, { file })).attachEvidence;
    result.dataset.state = answer.__typename === "Accepted" ? "attached" : "refused";
    result.textContent = answer.__typename === "Accepted" ? `已上传：${file.name}` : answer.message;
    if (answer.__typename === "Accepted") route();
  } catch (error) {
    result.dataset.state = "refused";
    result.textContent = String(error.message || error);
  }
}

function startFiles() {
  const round = () => $("#files").dataset.round;
  $("#download-template").addEventListener("click", () =>
    download(`/rounds/${round()}/ledger-template.xlsx`, "整改台账模板.xlsx").catch(showError));
  $("#download-ledger").addEventListener("click", () =>
    download(`/rounds/${round()}/ledger.xlsx${asOfQuery()}`, "整改台账.xlsx").catch(showError));
  $("#import-form").addEventListener("submit", (event) => { event.preventDefault(); importLedger(true); });
  $("#import-run").addEventListener("click", () => importLedger(false));
  $("#import-file").addEventListener("change", () => { $("#import-run").disabled = true; });
  $("#evidence-form").addEventListener("submit", (event) => { event.preventDefault(); attachEvidence(); });
}

// -- routing and live updates ---------------------------------------------------------------------------

async function route() {
  const renderId = ++state.renderId;
  stopSubscriptions();
  try {
    await refreshHead();
    const match = location.hash.match(/^#\/round\/([0-9a-f-]+)/);
    if (match) {
      await renderRound(match[1], renderId);
      if (!state.asOf) {
        subscribe(`subscription($r: ID!) { progressChanged(roundId: $r) { position } }`, { r: match[1] }, (data) => {
          if (!state.asOf && renderId === state.renderId && data.progressChanged.position > state.shownPosition) route();
        });
        if (["INSPECTOR", "ADMIN", "UNIT"].includes(state.role)) {
          subscribe(`subscription($after: Int!) { eventAppended(after: $after) { position type actor recordedAt businessDate } }`,
                    { after: state.head }, (data) => {
            const feed = $("[data-testid=feed]");
            if (feed && !state.asOf) feedItem(feed, data.eventAppended, true);
          });
        }
      }
    } else {
      $("#files").hidden = true;
      await renderDistrict(renderId);
      if (!state.asOf) {
        subscribe(`subscription { eventAppended(after: ${state.head}) { position } }`, {}, () => { if (!state.asOf) debounceRoute(); });
      }
    }
    state.shownPosition = state.head;
    document.body.dataset.position = String(state.head);
  } catch (error) {
    showError(error);
  }
}

let pending = null;
function debounceRoute() {
  clearTimeout(pending);
  pending = setTimeout(route, 150);
}

async function whoAmI() {
  try {
    const data = await gql("query { me { role name } }");
    state.role = data.me.role;
    $("[data-testid=role]").textContent = { PUBLIC: "公众", UNIT: "被巡察单位", INSPECTOR: "巡察办", ADMIN: "管理员" }[state.role] || state.role;
  } catch (error) {
    state.role = "PUBLIC";
    $("[data-testid=role]").textContent = "令牌无效";
  }
}

function start() {
  $("#token").value = state.token;
  $("#save-token").addEventListener("click", async () => {
    state.token = $("#token").value.trim();
    localStorage.setItem("rectify-token", state.token);
    if (state.ws) { state.ws.dispose(); state.ws = null; }
    await whoAmI();
    route();
  });
  $("#position").addEventListener("change", (event) => {
    const position = Number(event.target.value);
    travel(position >= state.head ? null : { position });
  });
  $("#position").addEventListener("input", (event) => { $("#position-label").textContent = `位置 ${event.target.value}`; });
  $("#moment").addEventListener("change", (event) => {
    if (event.target.value) travel({ recordedAt: new Date(event.target.value).toISOString() });
  });
  $("#now").addEventListener("click", () => travel(null));
  startFiles();
  window.addEventListener("hashchange", route);
  whoAmI().then(route);
}

start();
