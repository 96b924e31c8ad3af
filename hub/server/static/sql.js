// The version page's SQL console: runs the query through the JSON API and draws the answer
// as a table (text only: every value is set as textContent, never as HTML). Without
// JavaScript the form still works and answers the JSON itself.
"use strict";
document.querySelectorAll("form.sql").forEach((form) => {
  const section = form.closest("section");
  const status = section.querySelector(".sql-status");
  const result = section.querySelector(".sql-result");
  form.addEventListener("submit", async (event) => {
    if (event.submitter && event.submitter.name === "format") return; // CSV, Parquet: the browser downloads the file
    event.preventDefault();
    status.textContent = "running…";
    result.replaceChildren();
    const url = form.action + "?" + new URLSearchParams({ query: form.elements.query.value });
    let body;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      body = await response.json();
    } catch (error) {
      status.textContent = "the server did not answer: " + error;
      return;
    }
    if (body.error) {
      status.textContent = "";
      const p = document.createElement("p");
      p.className = "bad sql-error";
      p.textContent = body.error + (body.hint ? " " + body.hint : "");
      result.append(p);
      return;
    }
    const n = body.rows.length;
    status.textContent = `${n} row${n === 1 ? "" : "s"}${body.truncated ? ` (the first ${n}: there are more)` : ""} in ${(body.elapsed * 1000).toFixed(0)} ms`;
    const table = document.createElement("table");
    table.className = "sql-rows";
    const head = table.createTHead().insertRow();
    for (const column of body.columns) {
      const th = document.createElement("th");
      th.textContent = column.name;
      const type = document.createElement("span");
      type.className = "muted type";
      type.textContent = " " + column.type;
      th.append(type);
      head.append(th);
    }
    const rows = table.createTBody();
    for (const row of body.rows) {
      const tr = rows.insertRow();
      for (const value of row) {
        const text = value === null ? "NULL" : typeof value === "object" ? JSON.stringify(value) : String(value);
        tr.insertCell().textContent = text.length > 300 ? text.slice(0, 300) + "…" : text;
      }
    }
    result.append(table);
  });
});
