// StockFlow dashboard: sign in with an API key, poll the low-stock alerts, draw them.
// No framework, no build step. Everything is built with DOM calls and textContent
// (never innerHTML), so data from the API can't become markup, and the page's
// Content-Security-Policy can forbid inline script and style.
(function () {
  "use strict";

  var KEY_STORAGE = "stockflow.apiKey"; // sessionStorage: this tab only, never a cookie
  var PAGE_SIZE = 200; // the most urgent alerts; the filters narrow these
  var SPARK_DAYS = 30;
  var URGENCY_RANK = { critical: 0, high: 1, normal: 2 };
  var URGENCY_TEXT = { critical: "Critical", high: "High", normal: "Normal" };

  // Row actions and actions on the selected rows. The API has none yet: issue 13
  // (acknowledge / snooze an alert) and issue 14 (draft a purchase order from the
  // selected alerts) register theirs here, e.g.
  //   ROW_ACTIONS.push({ id: "ack", label: "Acknowledge",
  //                      run: function (alert) { return api("POST", ".../ack"); } });
  //   BULK_ACTIONS.push({ id: "draft-po", label: "Draft purchase order",
  //                       run: function (alerts) { return api("POST", "/api/purchase-orders", ...); } });
  // `run` returns a promise; the dashboard then polls at once, so a hidden row goes.
  var ROW_ACTIONS = [];
  var BULK_ACTIONS = [];

  var body = document.body;
  var POLL_MS = Number(body.getAttribute("data-poll-ms")) || 15000;

  var state = {
    key: null,
    company: null,
    etag: null,
    alerts: [],
    total: 0,
    sales: {}, // "product:warehouse" -> [units per day]
    lastOk: null, // when the server last confirmed our data (200 or 304)
    pollTimer: null,
    clockTimer: null,
    renderCount: 0,
    pollCount: 0,
    selected: {}, // "product:warehouse" -> true
    generation: 0, // bumps on sign-out, so late answers of an old session are dropped
  };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function rowKey(alert) {
    return alert.product_id + ":" + alert.warehouse_id;
  }

  // --- the API -------------------------------------------------------------------

  function api(method, path, options) {
    options = options || {};
    var headers = { Authorization: "Bearer " + (options.key || state.key) };
    if (options.etag) headers["If-None-Match"] = options.etag;
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    }
    return fetch(path, init);
  }

  // --- sign in / out -----------------------------------------------------------------

  function showSignIn(message) {
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("company").hidden = true;
    $("sign-in").hidden = false;
    var error = $("sign-in-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("api-key").focus();
  }

  function signIn(key) {
    return api("GET", "/api/me", { key: key })
      .then(function (response) {
        if (response.status === 401) throw new Error("That key is not valid (or was revoked).");
        if (!response.ok) throw new Error("The API answered " + response.status + "; try again.");
        return response.json();
      })
      .then(function (company) {
        sessionStorage.setItem(KEY_STORAGE, key);
        state.key = key;
        state.company = company;
        $("api-key").value = "";
        $("sign-in").hidden = true;
        $("board").hidden = false;
        $("sign-out").hidden = false;
        var label = $("company");
        label.textContent = company.name + " (#" + company.id + ")";
        label.hidden = false;
        startClock();
        return poll();
      });
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    state.generation += 1;
    clearTimeout(state.pollTimer);
    clearInterval(state.clockTimer);
    state.key = null;
    state.company = null;
    state.etag = null;
    state.alerts = [];
    state.total = 0;
    state.sales = {};
    state.lastOk = null;
    state.selected = {};
    $("rows").replaceChildren();
    setError(null);
    $("updated").textContent = "not loaded yet";
    showSignIn(message);
  }

  // --- polling -----------------------------------------------------------------------

  function alertsPath() {
    return (
      "/api/companies/" + state.company.id + "/alerts/low-stock?days=" + SPARK_DAYS +
      "&page_size=" + PAGE_SIZE
    );
  }

  function scheduleNext() {
    clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    var generation = state.generation;
    var updated = $("updated");
    return api("GET", alertsPath(), { etag: state.etag })
      .then(function (response) {
        if (generation !== state.generation) return null;
        state.pollCount += 1;
        updated.setAttribute("data-poll-count", String(state.pollCount));
        if (response.status === 304) {
          // nothing changed: keep the page exactly as it is
          state.lastOk = Date.now();
          setError(null);
          return null;
        }
        if (response.status === 401) {
          signOut("The key stopped working (revoked?). Sign in again.");
          return null;
        }
        if (!response.ok) {
          setError(response.status === 503 ? "API unavailable (503)" : "API error " + response.status);
          return null;
        }
        var etag = response.headers.get("ETag");
        return response.json().then(function (page) {
          return loadSales(page.alerts).then(function (sales) {
            if (generation !== state.generation) return;
            state.etag = etag;
            state.alerts = page.alerts;
            state.total = page.total_alerts;
            state.sales = sales;
            state.lastOk = Date.now();
            setError(null);
            render();
          });
        });
      })
      .catch(function () {
        if (generation === state.generation) setError("API unreachable");
      })
      .then(function () {
        if (generation === state.generation) {
          tick();
          scheduleNext();
        }
      });
  }

  function loadSales(alerts) {
    var ids = {};
    alerts.forEach(function (alert) {
      ids[alert.product_id] = true;
    });
    var list = Object.keys(ids);
    if (!list.length) return Promise.resolve({});
    var query = "days=" + SPARK_DAYS + list.map(function (id) {
      return "&product_id=" + encodeURIComponent(id);
    }).join("");
    return api("GET", "/api/dashboard/sales-daily?" + query).then(function (response) {
      if (!response.ok) return {}; // the alerts still show; only the pictures are missing
      return response.json().then(function (body) {
        var sales = {};
        body.series.forEach(function (series) {
          sales[series.product_id + ":" + series.warehouse_id] = series.units;
        });
        return sales;
      });
    });
  }

  function setError(message) {
    var box = $("api-error");
    box.textContent = message ? message + " · showing the last data" : "";
    box.hidden = !message;
    body.classList.toggle("api-down", Boolean(message));
  }

  function startClock() {
    clearInterval(state.clockTimer);
    state.clockTimer = setInterval(tick, 1000);
  }

  function tick() {
    if (state.lastOk === null) return;
    var seconds = Math.max(0, Math.round((Date.now() - state.lastOk) / 1000));
    $("updated").textContent = "updated " + seconds + " s ago";
  }

  // --- rendering -----------------------------------------------------------------------

  function filters() {
    return {
      warehouse: $("f-warehouse").value,
      type: $("f-type").value,
      supplier: $("f-supplier").value,
      urgency: $("f-urgency").value,
      sort: $("sort").value,
    };
  }

  function totalSales(alert) {
    var units = state.sales[rowKey(alert)] || [];
    return units.reduce(function (sum, n) {
      return sum + n;
    }, 0);
  }

  var SORTS = {
    urgency: null, // the API's own order: most urgent first
    days: function (a, b) {
      return a.days_until_stockout - b.days_until_stockout;
    },
    stock: function (a, b) {
      return a.current_stock / a.threshold - b.current_stock / b.threshold;
    },
    product: function (a, b) {
      return a.product_name.localeCompare(b.product_name);
    },
    warehouse: function (a, b) {
      return a.warehouse_name.localeCompare(b.warehouse_name);
    },
    sales: function (a, b) {
      return totalSales(b) - totalSales(a);
    },
  };

  function visibleAlerts() {
    var f = filters();
    var rows = state.alerts.filter(function (alert) {
      return (
        (!f.warehouse || String(alert.warehouse_id) === f.warehouse) &&
        (!f.type || alert.product_type === f.type) &&
        (!f.supplier || (alert.supplier ? String(alert.supplier.id) : "none") === f.supplier) &&
        (!f.urgency || alert.urgency === f.urgency)
      );
    });
    var compare = SORTS[f.sort];
    if (compare) {
      // a stable sort that falls back on the API's order
      rows = rows
        .map(function (alert, index) {
          return { alert: alert, index: index };
        })
        .sort(function (a, b) {
          return compare(a.alert, b.alert) || a.index - b.index;
        })
        .map(function (item) {
          return item.alert;
        });
    }
    return rows;
  }

  function fillOptions(select, options) {
    var current = select.value;
    var first = select.options[0];
    select.replaceChildren(first);
    options.forEach(function (option) {
      var node = el("option", null, option.label);
      node.value = option.value;
      select.appendChild(node);
    });
    // keep the choice while it still exists
    select.value = options.some(function (o) {
      return o.value === current;
    })
      ? current
      : "";
  }

  function distinct(getter) {
    var seen = {};
    var list = [];
    state.alerts.forEach(function (alert) {
      var option = getter(alert);
      if (!seen[option.value]) {
        seen[option.value] = true;
        list.push(option);
      }
    });
    return list.sort(function (a, b) {
      return a.label.localeCompare(b.label);
    });
  }

  function renderFilters() {
    fillOptions($("f-warehouse"), distinct(function (a) {
      return { value: String(a.warehouse_id), label: a.warehouse_name };
    }));
    fillOptions($("f-type"), distinct(function (a) {
      return { value: a.product_type, label: a.product_type.replace(/_/g, " ") };
    }));
    fillOptions($("f-supplier"), distinct(function (a) {
      return a.supplier
        ? { value: String(a.supplier.id), label: a.supplier.name }
        : { value: "none", label: "(no supplier)" };
    }));
  }

  function sparkline(units) {
    var ns = "http://www.w3.org/2000/svg";
    var width = 90;
    var height = 24;
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("role", "img");
    var total = 0;
    var peak = 0;
    units.forEach(function (n) {
      total += n;
      peak = Math.max(peak, n);
    });
    var label = SPARK_DAYS + "-day sales: " + total + " units, at most " + peak + " a day";
    svg.setAttribute("aria-label", label);
    var title = document.createElementNS(ns, "title");
    title.textContent = label;
    svg.appendChild(title);
    var step = units.length > 1 ? (width - 2) / (units.length - 1) : 0;
    var points = units.map(function (n, i) {
      var y = peak ? height - 2 - (n / peak) * (height - 4) : height - 2;
      return (1 + i * step).toFixed(1) + "," + y.toFixed(1);
    });
    var area = document.createElementNS(ns, "polygon");
    area.setAttribute("class", "spark-area");
    area.setAttribute("points", "1," + (height - 1) + " " + points.join(" ") + " " +
      (width - 1) + "," + (height - 1));
    svg.appendChild(area);
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", "spark-line");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(line);
    return svg;
  }

  function cell(label, className) {
    var td = el("td", className);
    td.setAttribute("data-label", label);
    return td;
  }

  function renderRow(alert) {
    var tr = el("tr", "urgency-" + alert.urgency);
    tr.setAttribute("data-product-id", String(alert.product_id));
    tr.setAttribute("data-warehouse-id", String(alert.warehouse_id));
    tr.setAttribute("data-urgency", alert.urgency);

    if (BULK_ACTIONS.length) {
      var select = cell("Select", "select-col");
      var box = el("input");
      box.type = "checkbox";
      box.checked = Boolean(state.selected[rowKey(alert)]);
      box.setAttribute("aria-label", "Select " + alert.product_name + " in " + alert.warehouse_name);
      box.addEventListener("change", function () {
        if (box.checked) state.selected[rowKey(alert)] = true;
        else delete state.selected[rowKey(alert)];
      });
      select.appendChild(box);
      tr.appendChild(select);
    }

    var urgency = cell("Urgency");
    // colour and words: the badge says it, the colour only repeats it
    urgency.appendChild(el("span", "badge badge-" + alert.urgency, URGENCY_TEXT[alert.urgency] || alert.urgency));
    tr.appendChild(urgency);

    var product = cell("Product", "product");
    product.appendChild(el("span", "name", alert.product_name));
    product.appendChild(el("span", "sku", alert.sku));
    product.appendChild(el("span", "type", alert.product_type.replace(/_/g, " ")));
    tr.appendChild(product);

    tr.appendChild(cell("Warehouse")).textContent = alert.warehouse_name;

    var stock = cell("Stock / threshold", "stock");
    stock.appendChild(el("span", "numbers", alert.current_stock + " / " + alert.threshold));
    var meter = el("meter");
    meter.min = 0;
    meter.max = alert.threshold;
    meter.value = alert.current_stock;
    meter.setAttribute("aria-label", alert.current_stock + " of " + alert.threshold);
    stock.appendChild(meter);
    tr.appendChild(stock);

    var out = cell("Runs out", "runs-out");
    var days = alert.days_until_stockout;
    out.appendChild(el("span", "days", days === 0 ? "out of stock" : days + (days === 1 ? " day" : " days")));
    out.appendChild(el("span", "date", alert.stockout_date));
    if (alert.reorder_by) out.appendChild(el("span", "reorder-by", "order by " + alert.reorder_by));
    tr.appendChild(out);

    var spark = cell("Sales, 30 days", "sales");
    var units = state.sales[rowKey(alert)] || new Array(SPARK_DAYS).fill(0);
    spark.appendChild(sparkline(units));
    spark.appendChild(el("span", "avg", alert.avg_daily_sales + "/day"));
    tr.appendChild(spark);

    var supplier = cell("Supplier", "supplier");
    if (alert.supplier) {
      supplier.appendChild(el("span", "name", alert.supplier.name));
      if (alert.supplier.contact_email) {
        var mail = el("a", "contact", alert.supplier.contact_email);
        mail.href = "mailto:" + alert.supplier.contact_email;
        supplier.appendChild(mail);
      }
      if (alert.lead_time_days !== null && alert.lead_time_days !== undefined) {
        supplier.appendChild(el("span", "lead", "lead time " + alert.lead_time_days + " d"));
      }
    } else {
      supplier.appendChild(el("span", "none", "no supplier"));
    }
    tr.appendChild(supplier);

    if (ROW_ACTIONS.length) {
      var actions = cell("Actions", "actions-col");
      ROW_ACTIONS.forEach(function (action) {
        var button = el("button", "action", action.label);
        button.type = "button";
        button.setAttribute("data-action", action.id);
        button.addEventListener("click", function () {
          runAction(function () {
            return action.run(alert, api);
          });
        });
        actions.appendChild(button);
      });
      tr.appendChild(actions);
    }
    return tr;
  }

  function runAction(run) {
    Promise.resolve()
      .then(run)
      .then(poll, function () {
        setError("The action failed");
      });
  }

  function renderBulkActions() {
    var bar = $("bulk-actions");
    bar.hidden = !BULK_ACTIONS.length;
    document.querySelectorAll(".select-col").forEach(function (node) {
      node.hidden = !BULK_ACTIONS.length;
    });
    document.querySelectorAll(".actions-col").forEach(function (node) {
      node.hidden = !ROW_ACTIONS.length;
    });
    if (!BULK_ACTIONS.length || bar.childElementCount) return;
    BULK_ACTIONS.forEach(function (action) {
      var button = el("button", "action", action.label);
      button.type = "button";
      button.addEventListener("click", function () {
        var chosen = state.alerts.filter(function (alert) {
          return state.selected[rowKey(alert)];
        });
        if (chosen.length) {
          runAction(function () {
            return action.run(chosen, api);
          });
        }
      });
      bar.appendChild(button);
    });
  }

  function render() {
    renderFilters();
    renderBulkActions();
    var rows = visibleAlerts();
    $("rows").replaceChildren.apply($("rows"), rows.map(renderRow));
    var count = $("count");
    count.textContent = String(rows.length);
    count.setAttribute("data-count", String(rows.length));
    $("empty").hidden = rows.length > 0;
    var more = $("more");
    more.hidden = state.total <= state.alerts.length;
    more.textContent =
      "Showing the " + state.alerts.length + " most urgent of " + state.total + " alerts.";
    state.renderCount += 1;
    $("updated").setAttribute("data-render-count", String(state.renderCount));
  }

  // --- wiring --------------------------------------------------------------------------

  function start() {
    $("sign-in-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var key = $("api-key").value.trim();
      if (!key) {
        showSignIn("Paste an API key first.");
        return;
      }
      signIn(key).catch(function (error) {
        showSignIn(error.message);
      });
    });
    $("sign-out").addEventListener("click", function () {
      signOut();
    });
    $("filters").addEventListener("change", function () {
      if (state.alerts.length) render();
    });
    $("filters").addEventListener("submit", function (event) {
      event.preventDefault();
    });
    var saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved) {
      signIn(saved).catch(function (error) {
        sessionStorage.removeItem(KEY_STORAGE);
        showSignIn(error.message);
      });
    } else {
      showSignIn();
    }
  }

  start();
})();
