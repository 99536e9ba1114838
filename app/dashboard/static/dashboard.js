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

  var SKIP_REASONS = {
    no_supplier: "it has no supplier",
    supplier_archived: "its supplier is archived",
    on_order: "open orders already bring what it needs",
  };

  // Row actions ({id, label, shows(alert), run(alert, button)}) and actions on the
  // selected rows ({id, label, run(alerts)}). `run` returns a promise; when it settles
  // the dashboard asks for the alerts again (a fresh 200), so an acknowledged row goes.
  // They are registered at the end of this file.
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
    pollSequence: 0, // every poll is numbered ...
    shownSequence: 0, // ... and the page shows the answer to this one
    selected: {}, // "product:warehouse" -> true
    idempotencyKeys: {}, // request -> key, kept until the API has answered it for sure
    ackAlert: null, // the alert the acknowledge dialog is about
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
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
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
    state.idempotencyKeys = {};
    if ($("ack-dialog").open) $("ack-dialog").close();
    $("rows").replaceChildren();
    setError(null);
    showActionResult(null);
    showActionError(null);
    $("updated").textContent = "not loaded yet";
    showSignIn(message);
  }

  // --- polling -----------------------------------------------------------------------

  function alertsPath() {
    // covered and acknowledged are asked of the API: the page holds the 200 most
    // urgent alerts of that choice, and the other filters narrow those
    var covered = $("f-covered").value;
    return (
      "/api/companies/" + state.company.id + "/alerts/low-stock?days=" + SPARK_DAYS +
      "&page_size=" + PAGE_SIZE +
      (covered ? "&covered=" + covered : "") +
      ($("f-acknowledged").checked ? "&include_acknowledged=true" : "")
    );
  }

  // ask again at once for a fresh 200 (after an action, or another server-side filter)
  function refresh() {
    state.etag = null;
    return poll();
  }

  function scheduleNext() {
    clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(poll, POLL_MS);
  }

  function poll() {
    clearTimeout(state.pollTimer);
    var generation = state.generation;
    var updated = $("updated");
    var path = alertsPath();
    var sequence = (state.pollSequence += 1);
    // dropped: an answer to another question (the filters changed meanwhile), or one
    // older than what is shown (a poll sent before an action, answered after its refresh)
    function stale() {
      return generation !== state.generation || path !== alertsPath() || sequence < state.shownSequence;
    }
    return api("GET", path, { etag: state.etag })
      .then(function (response) {
        if (stale()) return null;
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
            if (stale()) return;
            state.shownSequence = sequence;
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

  function day(iso) {
    return iso ? iso.slice(0, 10) : "";
  }

  // an API time (UTC) as the reader's local "YYYY-MM-DD HH:MM"
  function when(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return iso;
    function two(n) {
      return ("0" + n).slice(-2);
    }
    return (
      date.getFullYear() + "-" + two(date.getMonth() + 1) + "-" + two(date.getDate()) + " " +
      two(date.getHours()) + ":" + two(date.getMinutes())
    );
  }

  function onOrderCell(alert) {
    var td = cell("On order", "on-order");
    var units = alert.on_order || 0;
    if (!units) {
      td.appendChild(el("span", "none", "none"));
      return td;
    }
    td.appendChild(el("span", "units", units + " on order"));
    td.appendChild(el("span", "projected", alert.projected_quantity + " projected"));
    if (alert.next_delivery_at) {
      td.appendChild(el("span", "delivery", "next delivery " + day(alert.next_delivery_at)));
    } else {
      td.appendChild(el("span", "delivery", "no delivery date"));
    }
    // in words as well as colour: covered, or why the open orders are not enough
    td.appendChild(
      alert.covered
        ? el("span", "badge badge-covered", "Covered")
        : el("span", "badge badge-short", "Not covered")
    );
    return td;
  }

  function acknowledgementNote(ack) {
    var text = "Acknowledged " + day(ack.acknowledged_at);
    if (ack.acknowledged_by !== null && ack.acknowledged_by !== undefined && ack.acknowledged_by !== "") {
      text += " by " + (typeof ack.acknowledged_by === "object"
        ? ack.acknowledged_by.name || ack.acknowledged_by.id
        : ack.acknowledged_by);
    }
    text += ack.until ? ", hidden until " + when(ack.until) : ", hidden until it gets worse";
    if (ack.note) text += ": \u201c" + ack.note + "\u201d";
    return el("span", "ack-note", text);
  }

  function renderRow(alert) {
    var tr = el("tr", "urgency-" + alert.urgency);
    tr.setAttribute("data-product-id", String(alert.product_id));
    tr.setAttribute("data-warehouse-id", String(alert.warehouse_id));
    tr.setAttribute("data-urgency", alert.urgency);
    tr.setAttribute("data-covered", String(Boolean(alert.covered)));
    tr.setAttribute("data-on-order", String(alert.on_order || 0));
    if (alert.acknowledgement) {
      tr.classList.add("acknowledged");
      tr.setAttribute("data-acknowledgement-id", String(alert.acknowledgement.id));
    }

    if (BULK_ACTIONS.length) {
      var select = cell("Select", "select-col");
      var box = el("input", "select-row");
      box.type = "checkbox";
      box.checked = Boolean(state.selected[rowKey(alert)]);
      box.setAttribute("aria-label", "Select " + alert.product_name + " in " + alert.warehouse_name);
      box.addEventListener("change", function () {
        if (box.checked) state.selected[rowKey(alert)] = true;
        else delete state.selected[rowKey(alert)];
        renderSelection();
      });
      select.appendChild(box);
      tr.appendChild(select);
    }

    var urgency = cell("Urgency");
    // colour and words: the badge says it, the colour only repeats it
    urgency.appendChild(el("span", "badge badge-" + alert.urgency, URGENCY_TEXT[alert.urgency] || alert.urgency));
    if (alert.acknowledgement) urgency.appendChild(el("span", "badge badge-ack", "Acknowledged"));
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

    tr.appendChild(onOrderCell(alert));

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
      if (alert.acknowledgement) actions.appendChild(acknowledgementNote(alert.acknowledgement));
      ROW_ACTIONS.forEach(function (action) {
        if (action.shows && !action.shows(alert)) return;
        var button = el("button", "action", action.label);
        button.type = "button";
        button.setAttribute("data-action", action.id);
        button.setAttribute("aria-label", action.label + " " + alert.product_name + " in " + alert.warehouse_name);
        button.addEventListener("click", function () {
          action.run(alert, button);
        });
        actions.appendChild(button);
      });
      tr.appendChild(actions);
    }
    return tr;
  }

  // --- actions: their outcome in a status region, their errors in an alert region ------

  function showActionResult(nodes) {
    var box = $("action-status");
    if (!nodes) box.replaceChildren();
    else box.replaceChildren.apply(box, nodes);
  }

  function showActionError(message) {
    $("action-error").textContent = message || "";
  }

  // "Some products are unknown. (product_ids.0: Unknown product.)" from a problem response
  function problemText(response) {
    return response
      .json()
      .catch(function () {
        return {};
      })
      .then(function (problem) {
        var text = problem.detail || problem.title || "The API answered " + response.status + ".";
        var errors = problem.errors || {};
        var parts = Object.keys(errors).map(function (field) {
          var messages = errors[field];
          return field + ": " + (Array.isArray(messages) ? messages.join(" ") : JSON.stringify(messages));
        });
        if (parts.length) text += " (" + parts.join("; ") + ")";
        return text + " [" + response.status + "]";
      });
  }

  // Runs an action; an Error's message is shown in the alert region. Then a fresh poll.
  function runAction(run) {
    showActionError(null);
    return Promise.resolve()
      .then(run)
      .catch(function (error) {
        showActionError(error && error.message ? error.message : "The action failed.");
      })
      .then(function () {
        if (state.key) return refresh();
        return null;
      });
  }

  function randomKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // unlike randomUUID, also on plain http
    return "dashboard-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // The same request gets the same Idempotency-Key until the API has answered it for
  // sure: a retry after a lost answer (network, 5xx) is a replay, not a second draft.
  function idempotencyKey(request) {
    var key = state.idempotencyKeys[request];
    if (!key) key = state.idempotencyKeys[request] = randomKey();
    return key;
  }

  // what the actions act on: the selected rows the filters show (what you see is what
  // you order; a row hidden by a filter stays selected for when it shows again)
  function selectedAlerts() {
    return visibleAlerts().filter(function (alert) {
      return state.selected[rowKey(alert)];
    });
  }

  function renderSelection() {
    var shown = Array.prototype.slice.call(document.querySelectorAll("#rows .select-row"));
    var ticked = shown.filter(function (box) {
      return box.checked;
    }).length;
    var all = $("select-all");
    all.checked = shown.length > 0 && ticked === shown.length;
    all.indeterminate = ticked > 0 && ticked < shown.length;
    var count = selectedAlerts().length;
    $("selected-count").textContent = count === 1 ? "1 alert selected" : count + " alerts selected";
    $("bulk-actions").querySelectorAll("button").forEach(function (button) {
      button.disabled = count === 0 || button.getAttribute("aria-busy") === "true";
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
    if (!BULK_ACTIONS.length || bar.querySelector("button")) return;
    BULK_ACTIONS.forEach(function (action) {
      var button = el("button", "action", action.label);
      button.type = "button";
      button.setAttribute("data-action", action.id);
      button.addEventListener("click", function () {
        var chosen = selectedAlerts();
        if (!chosen.length) return;
        button.setAttribute("aria-busy", "true");
        button.disabled = true;
        runAction(function () {
          return action.run(chosen);
        }).then(function () {
          button.removeAttribute("aria-busy");
          renderSelection();
        });
      });
      bar.appendChild(button);
    });
  }

  function render() {
    renderFilters();
    renderBulkActions();
    var rows = visibleAlerts();
    $("rows").replaceChildren.apply($("rows"), rows.map(renderRow));
    // a selected alert that is gone (ordered, acknowledged) is no longer selected
    var present = {};
    state.alerts.forEach(function (alert) {
      present[rowKey(alert)] = true;
    });
    Object.keys(state.selected).forEach(function (key) {
      if (!present[key]) delete state.selected[key];
    });
    if (BULK_ACTIONS.length) renderSelection();
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

  // --- draft purchase orders from the selected alerts ----------------------------------

  function names() {
    var suppliers = {};
    var warehouses = {};
    var products = {};
    state.alerts.forEach(function (alert) {
      if (alert.supplier) suppliers[alert.supplier.id] = alert.supplier.name;
      warehouses[alert.warehouse_id] = alert.warehouse_name;
      products[alert.product_id] = alert.sku;
    });
    return { suppliers: suppliers, warehouses: warehouses, products: products };
  }

  // POST /api/purchase-orders/from-alerts takes one warehouse (or all) and a list of
  // products: one request per warehouse of the selection names exactly the selected
  // alerts (products x all warehouses would add alerts nobody selected). Each request
  // is its own transaction, sent one after the other; when one fails, the drafts made
  // before it stay and are shown with the error.
  function draftPurchaseOrders(alerts) {
    var byWarehouse = {};
    alerts.forEach(function (alert) {
      (byWarehouse[alert.warehouse_id] = byWarehouse[alert.warehouse_id] || []).push(alert.product_id);
    });
    var done = [];
    var known = names();
    var chain = Object.keys(byWarehouse)
      .sort(function (a, b) {
        return a - b;
      })
      .reduce(function (previous, warehouseId) {
        return previous.then(function () {
          var body = {
            warehouse_id: Number(warehouseId),
            product_ids: byWarehouse[warehouseId].sort(function (a, b) {
              return a - b;
            }),
            days: SPARK_DAYS, // the window the page's alerts use
          };
          var request = "from-alerts " + JSON.stringify(body);
          return api("POST", "/api/purchase-orders/from-alerts", {
            json: body,
            idempotencyKey: idempotencyKey(request),
          }).then(function (response) {
            if (response.status !== 409 && response.status < 500) {
              // a definite answer: trying again is a new request with a new key
              delete state.idempotencyKeys[request];
            }
            if (response.status !== 201) {
              return problemText(response).then(function (text) {
                throw new Error(
                  "Drafting for " + (known.warehouses[warehouseId] || "warehouse " + warehouseId) +
                  " failed: " + text
                );
              });
            }
            return response.json().then(function (result) {
              done.push({ request: body, result: result, alerts: alerts });
              body.product_ids.forEach(function (productId) {
                delete state.selected[productId + ":" + warehouseId];
              });
            });
          });
        });
      }, Promise.resolve());
    return chain.then(
      function () {
        showActionResult(draftReport(done, known));
      },
      function (error) {
        showActionResult(draftReport(done, known));
        throw error;
      }
    );
  }

  function draftReport(done, known) {
    var orders = [];
    var notes = [];
    done.forEach(function (item) {
      var result = item.result;
      var accounted = {};
      result.purchase_orders.forEach(function (order) {
        orders.push(order);
        order.lines.forEach(function (line) {
          accounted[line.product_id] = true;
        });
      });
      result.skipped.forEach(function (skip) {
        accounted[skip.product_id] = true;
        notes.push(
          (known.products[skip.product_id] || "product " + skip.product_id) + " in " +
          (known.warehouses[skip.warehouse_id] || "warehouse " + skip.warehouse_id) + ": " +
          (SKIP_REASONS[skip.reason] || skip.reason)
        );
      });
      item.request.product_ids.forEach(function (productId) {
        if (accounted[productId]) return;
        var warehouseId = item.request.warehouse_id;
        var acknowledged = item.alerts.some(function (alert) {
          return alert.product_id === productId && alert.warehouse_id === warehouseId &&
            alert.acknowledgement;
        });
        notes.push(
          (known.products[productId] || "product " + productId) + " in " +
          (known.warehouses[warehouseId] || "warehouse " + warehouseId) + ": " +
          (acknowledged ? "acknowledged (drafts leave acknowledged alerts out)" : "no longer an alert")
        );
      });
    });
    if (!done.length) return null;
    var nodes = [];
    nodes.push(el("p", "result-title", orders.length === 1
      ? "Drafted 1 purchase order:"
      : orders.length
        ? "Drafted " + orders.length + " purchase orders:"
        : "No purchase order was drafted."));
    if (orders.length) {
      var list = el("ul", "drafts");
      orders.forEach(function (order) {
        var item = el("li", "draft");
        item.setAttribute("data-purchase-order-id", String(order.id));
        item.appendChild(el("strong", null, "PO #" + order.id + " (" + order.status + ")"));
        item.appendChild(document.createTextNode(
          " " + (known.suppliers[order.supplier_id] || "supplier " + order.supplier_id) +
          " \u2192 " + (known.warehouses[order.warehouse_id] || "warehouse " + order.warehouse_id) +
          ": " + order.lines.map(function (line) {
            return line.sku + " \u00d7 " + line.quantity;
          }).join(", ") +
          " \u00b7 total " + order.total_cost + " "
        ));
        item.appendChild(el("code", null, "GET /api/purchase-orders/" + order.id));
        list.appendChild(item);
      });
      nodes.push(list);
    }
    if (notes.length) {
      nodes.push(el("p", "result-title", "Not drafted:"));
      var skipped = el("ul", "skipped");
      notes.forEach(function (note) {
        skipped.appendChild(el("li", null, note));
      });
      nodes.push(skipped);
    }
    return nodes;
  }

  // --- acknowledge / snooze ------------------------------------------------------------

  function acknowledgementsPath() {
    return "/api/companies/" + state.company.id + "/alerts/low-stock/acknowledgements";
  }

  function describe(alert) {
    return alert.product_name + " (" + alert.sku + ") in " + alert.warehouse_name;
  }

  function untilChoice(choice) {
    var when = new Date();
    if (choice === "tomorrow") {
      when.setHours(24, 0, 0, 0); // the next local midnight
      return when.toISOString();
    }
    if (choice === "week") return new Date(when.getTime() + 7 * 86400000).toISOString();
    return null; // until un-acknowledged
  }

  function openAcknowledge(alert) {
    state.ackAlert = alert;
    $("ack-what").textContent = describe(alert);
    $("ack-until").value = "tomorrow";
    $("ack-note").value = "";
    $("ack-error").hidden = true;
    $("ack-submit").disabled = false;
    $("ack-dialog").showModal();
  }

  // the acted-on row leaves: put the focus on the row that takes its place
  function keepFocus(index) {
    return function () {
      if (document.activeElement && document.activeElement !== body) return;
      var rows = $("rows").querySelectorAll("tr");
      var row = rows[Math.min(index, rows.length - 1)];
      var target = row ? row.querySelector("button.action") : null;
      (target || $("board-title")).focus();
    };
  }

  function rowIndex(alert) {
    return visibleAlerts().indexOf(alert);
  }

  function submitAcknowledge() {
    var alert = state.ackAlert;
    if (!alert) return;
    var payload = { product_id: alert.product_id, warehouse_id: alert.warehouse_id };
    var until = untilChoice($("ack-until").value);
    if (until) payload.until = until;
    var note = $("ack-note").value.trim();
    if (note) payload.note = note;
    var index = rowIndex(alert);
    var error = $("ack-error");
    $("ack-submit").disabled = true;
    api("POST", acknowledgementsPath(), { json: payload })
      .then(function (response) {
        // 201, or 200 when an acknowledgement that no longer held is replaced
        if (response.status !== 201 && response.status !== 200) {
          return problemText(response).then(function (text) {
            throw new Error(text);
          });
        }
        return response.json().then(function (ack) {
          state.ackAlert = null;
          $("ack-dialog").close();
          showActionResult([
            el("p", null, "Acknowledged " + describe(alert) +
              (ack.until ? ", hidden until " + when(ack.until) : ", hidden until it gets worse") +
              "."),
          ]);
          return refresh().then(keepFocus(index));
        });
      })
      .catch(function (failure) {
        error.textContent = "Not acknowledged: " + (failure.message || "the API did not answer.");
        error.hidden = false;
        $("ack-submit").disabled = false;
      });
  }

  function unacknowledge(alert) {
    var index = rowIndex(alert);
    runAction(function () {
      return api("DELETE", acknowledgementsPath() + "/" + alert.acknowledgement.id).then(function (response) {
        if (response.status !== 204 && response.status !== 404) {
          return problemText(response).then(function (text) {
            throw new Error("Not un-acknowledged: " + text);
          });
        }
        // a 404: someone else un-acknowledged it already; the next render shows that
        showActionResult([el("p", null, describe(alert) + " is back in the list.")]);
        return null;
      });
    }).then(keepFocus(index));
  }

  ROW_ACTIONS.push({
    id: "acknowledge",
    label: "Acknowledge",
    shows: function (alert) {
      return !alert.acknowledgement;
    },
    run: openAcknowledge,
  });
  ROW_ACTIONS.push({
    id: "unacknowledge",
    label: "Un-acknowledge",
    shows: function (alert) {
      return Boolean(alert.acknowledgement);
    },
    run: unacknowledge,
  });
  BULK_ACTIONS.push({
    id: "draft-po",
    label: "Draft purchase orders from the selected",
    run: draftPurchaseOrders,
  });

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
    $("filters").addEventListener("change", function (event) {
      var id = event.target.id;
      if (id === "f-covered" || id === "f-acknowledged") {
        // answered by the API: ask it now (and render what it answers)
        if (state.key) refresh();
      } else if (state.alerts.length) {
        render();
      }
    });
    $("select-all").addEventListener("change", function () {
      var on = $("select-all").checked;
      visibleAlerts().forEach(function (alert) {
        if (on) state.selected[rowKey(alert)] = true;
        else delete state.selected[rowKey(alert)];
      });
      document.querySelectorAll("#rows .select-row").forEach(function (box) {
        box.checked = on;
      });
      renderSelection();
    });
    $("ack-form").addEventListener("submit", function (event) {
      event.preventDefault(); // the dialog closes when the API said yes
      submitAcknowledge();
    });
    $("ack-cancel").addEventListener("click", function () {
      $("ack-dialog").close();
    });
    $("ack-dialog").addEventListener("close", function () {
      // the close event comes a task after close(): a dialog opened again meanwhile
      // (Escape then Enter, quickly) is about its new alert, which stays
      if (!$("ack-dialog").open) state.ackAlert = null;
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
