// The panels of the dashboard. Each takes its <section>, the data of one
// poll and the view (charts kept across polls), draws itself and answers
// its state: "ready" when it shows data, "empty" when there is nothing to
// draw, "off" when it does not apply and is hidden (RunPod's, with
// another backend). Everything from the data goes in as text.
(function (D) {
  'use strict';

  const f = D.format;
  const c = D.charts.colors;

  // text sets the text of the element with id.
  function text(id, s) {
    document.getElementById(id).textContent = s;
  }

  // node makes an element with a class and text.
  function node(tag, cls, s) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (s != null) e.textContent = s;
    return e;
  }

  // meter is a small bar filled to ratio (0–1).
  function meter(ratio, cls) {
    const m = node('span', 'meter' + (cls ? ' ' + cls : ''));
    const fill = node('span', 'meter-fill');
    fill.style.width = (f.isNum(ratio) ? Math.min(1, Math.max(0, ratio)) * 100 : 0) + '%';
    m.append(fill);
    return m;
  }

  // row makes a table row; a cell is text, a node, or {text, cls, title}.
  function row(cells) {
    const tr = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      if (cell instanceof Node) td.append(cell);
      else if (cell && typeof cell === 'object') {
        if (cell.cls) td.className = cell.cls;
        if (cell.title) td.title = cell.title;
        if (cell.node) td.append(cell.node);
        if (cell.text != null) td.append(cell.text);
      } else td.textContent = cell;
      tr.append(td);
    }
    return tr;
  }

  // fill replaces the rows of the panel's table, or shows msg instead
  // when there are none.
  function fill(panel, rows, msg) {
    panel.querySelector('tbody').replaceChildren(...rows);
    return empty(panel, rows.length ? '' : msg);
  }

  // empty shows msg in place of the panel's chart or table, or hides it
  // when msg is empty; it answers the panel's state.
  function empty(panel, msg) {
    const p = panel.querySelector('.empty-message');
    p.textContent = msg;
    p.hidden = !msg;
    panel.querySelectorAll('.chart, .table').forEach((e) => (e.hidden = !!msg));
    return msg ? 'empty' : 'ready';
  }

  // column is key's array of s, as long as t (nulls where it is missing).
  function column(s, key, t) {
    const v = s && Array.isArray(s[key]) ? s[key] : [];
    return t.map((_, i) => (f.isNum(v[i]) ? v[i] : null));
  }

  // timeline is the step series of the data, with t never missing, and
  // the step in seconds (from the data, else from t).
  function timeline(d) {
    const s = d.series || {};
    const t = Array.isArray(s.t) ? s.t : [];
    const step = f.isNum(d.step_seconds) && d.step_seconds > 0 ? d.step_seconds : t[1] - t[0] || 60;
    return { s, t, step };
  }

  // Axis tick formats.
  const axisSeconds = (v) => (v < 60 ? +v.toFixed(1) + ' s' : +(v / 60).toFixed(1) + ' min');
  const axisMoney = (v) => '$' + +v.toFixed(4);
  const axisPercent = (v) => v + ' %';

  // The status classes of requests, bottom to top of the stack.
  const classes = [
    { key: '2xx', color: c.ok }, { key: '3xx', color: c.muted },
    { key: '4xx', color: c.warn }, { key: '5xx', color: c.bad },
  ];

  // requests draws one stacked bar chart of requests by status class.
  function requests(panel, buckets, view, step, daily, tz) {
    const t = buckets && Array.isArray(buckets.t) ? buckets.t : [];
    const chart = view.chart(panel);
    if (!t.length) {
      chart.destroy();
      return empty(panel, 'No requests recorded yet.');
    }
    empty(panel, '');
    const raw = [t].concat(classes.map((k) => column(buckets, k.key, t)));
    chart.draw(`${t.length}|${tz}`, {
      height: 200, step, bars: true, stacked: true, counts: true, daily, tz: daily ? tz : undefined,
      axis: f.compact, value: f.count,
      series: classes.map((k) => ({ label: k.key, color: k.color })),
    }, raw);
    return 'ready';
  }

  // moment is a time of the data, null when absent or Go's zero time
  // (year 1: never happened).
  function moment(s) {
    const d = f.date(s);
    return d && d.getUTCFullYear() > 1 ? d : null;
  }

  // at is a moment as the tables write it, in a <time>.
  function at(d, now) {
    return node('time', null, f.when(d, now));
  }

  const severityRank = { critical: 0, warning: 1 };

  // firingItem is one firing alert: its severity, its one-line summary,
  // since when it fires and when it was last sent.
  function firingItem(x, now) {
    const li = node('li', 'alert-item');
    const severity = String(x.severity || 'warning');
    li.dataset.key = String(x.key || '');
    li.dataset.severity = severity;
    li.title = x.rule ? 'Rule ' + x.rule : '';
    const since = moment(x.since);
    const notified = moment(x.notified_at);
    const times = node('span', 'alert-times',
      `firing since ${f.when(since, now)} (${f.ago(since, now)}), ` +
      (notified ? `last notified ${f.when(notified, now)}` : 'not notified yet'));
    times.title = 'Since ' + f.fullTime(since) + (notified ? '; last notified ' + f.fullTime(notified) : '');
    li.append(node('span', 'severity ' + (severity === 'critical' ? 'critical' : 'warning'), severity),
      node('span', 'alert-summary', x.summary), times);
    return li;
  }

  // channelRows is a channel's row, and under it a second one saying
  // since when it fails and why, while it does.
  function channelRows(ch, now) {
    const id = String(ch.channel || '');
    const tried = moment(ch.last_attempt_at);
    const outcome = !tried ? node('span', 'outcome never', 'never') :
      node('span', ch.last_delivered ? 'outcome ok' : 'outcome bad', ch.last_delivered ? 'delivered' : 'failed');
    const last = node('span', 'last-attempt');
    if (tried) last.append(at(tried, now), ' ');
    last.append(outcome);
    const name = node('span', 'channel');
    name.append(node('span', 'mono', id));
    if (!ch.configured) name.append(' ', node('span', 'tag', 'not configured'));
    const tr = row([
      { node: name, title: id },
      { text: ch.kind },
      { node: last, cls: 'nowrap', title: tried ? f.fullTime(tried) : '' },
      { text: f.count(ch.pending), cls: 'num' },
      { text: f.count(ch.delivered), cls: 'num' },
      { text: f.count(ch.failed), cls: 'num' + (ch.failed > 0 ? ' bad' : '') },
    ]);
    tr.dataset.channel = id;
    const failing = moment(ch.failing_since);
    if (!failing) return [tr];
    tr.classList.add('failing');
    const err = document.createElement('tr');
    err.className = 'channel-error';
    err.dataset.channel = id;
    const td = node('td', null, `Failing since ${f.when(failing, now)} (${f.ago(failing, now)})` + (ch.last_error ? ': ' : '.'));
    td.colSpan = 6;
    td.title = 'Failing since ' + f.fullTime(failing);
    if (ch.last_error) td.append(node('span', 'channel-last-error', ch.last_error));
    err.append(td);
    return [tr, err];
  }

  // capSettings says the spending cap's settings, and which is reached.
  function capSettings(cap) {
    const day = cap && f.isNum(cap.daily_usd) ? cap.daily_usd : null;
    const month = cap && f.isNum(cap.monthly_usd) ? cap.monthly_usd : null;
    if (day == null && month == null) return 'No spending cap.';
    const parts = [];
    if (day != null) parts.push(`${f.money(day)} a day` + (cap.exhausted && cap.period === 'day' ? ' (reached)' : ''));
    if (month != null) parts.push(`${f.money(month)} a month` + (cap.exhausted && cap.period === 'month' ? ' (reached)' : ''));
    return 'Spending cap: ' + parts.join(', ') + '.';
  }

  const panels = {
    queue(panel, d) {
      const now = d.now || {};
      text('stat-queued', f.count(now.queued));
      text('stat-running', f.count(now.running));
      const submitted = (d.jobs || {}).submitted;
      text('stat-submitted', f.isNum(submitted) ? `${f.count(submitted)} submitted, ${f.rangeLabel(d.range)}` : '');
      return 'ready';
    },

    outcomes(panel, d, view) {
      const j = d.jobs || {};
      text('stat-success', f.percent(j.success_ratio));
      text('stat-completed', f.count(j.completed));
      text('stat-failed', f.count(j.failed));
      text('stat-cancelled', f.count(j.cancelled));
      const { s, t, step } = timeline(d);
      view.chart(panel).draw(`${d.range}|${t.length}`, {
        height: 140, step, bars: true, stacked: true, counts: true, axis: f.compact, value: f.count,
        series: [{ label: 'completed', color: c.ok }, { label: 'failed', color: c.bad }],
      }, [t, column(s, 'completed', t), column(s, 'failed', t)]);
      return 'ready';
    },

    latency(panel, d, view) {
      const g = (d.jobs || {}).generation_seconds || {};
      text('stat-p50', f.duration(g.p50));
      text('stat-p95', f.duration(g.p95));
      text('stat-p99', f.duration(g.p99));
      text('stat-generations', f.count(g.count));
      const { s, t, step } = timeline(d);
      view.chart(panel).draw(`${d.range}|${t.length}`, {
        height: 140, step, axis: axisSeconds, value: f.duration,
        series: [{ label: 'P50', color: c.p50 }, { label: 'P95', color: c.p95 }, { label: 'P99', color: c.p99 }],
      }, [t, column(s, 'p50', t), column(s, 'p95', t), column(s, 'p99', t)]);
      return 'ready';
    },

    cost(panel, d, view) {
      const k = d.cost || {};
      text('cost-today', f.money(k.today_usd));
      text('cost-month', f.money(k.month_usd));
      text('cost-forecast', f.money(k.forecast_usd));
      if (d.timezone) text('cost-timezone', d.timezone);
      text('cost-billed-today', f.seconds(k.today_billed_seconds));
      text('cost-billed-month', f.seconds(k.month_billed_seconds));
      const price = f.isNum(k.price_per_second_usd) ? `Billed at ${f.rate(k.price_per_second_usd)} per GPU-second` : '';
      for (const id of ['cost-billed-today', 'cost-billed-month']) document.getElementById(id).parentElement.title = price;
      const budget = document.getElementById('cost-budget');
      budget.hidden = !(f.isNum(k.budget_usd) && k.budget_usd > 0);
      if (!budget.hidden) {
        const used = f.isNum(k.month_usd) ? k.month_usd / k.budget_usd : null;
        const over = f.isNum(k.forecast_usd) && k.forecast_usd > k.budget_usd;
        budget.classList.toggle('over', used > 1);
        budget.classList.toggle('warn', over && !(used > 1));
        budget.querySelector('.meter').replaceWith(meter(used));
        text('cost-budget-text', `${f.percent(used, 0)} of ${f.money(k.budget_usd)} budget` +
          (over ? ', forecast over' : ''));
      }
      const { s, t, step } = timeline(d);
      view.chart(panel).draw(`${d.range}|${t.length}|${step}`, {
        height: 140, step, bars: true, axis: axisMoney, value: f.money,
        series: [{ label: 'cost per ' + f.duration(step), color: c.cost }],
      }, [t, column(s, 'cost_usd', t)]);
      return 'ready';
    },

    gpu(panel, d, view) {
      const g = d.gpu || {};
      const workers = Array.isArray(g.workers) ? g.workers : [];
      const { t, step } = timeline(d);
      const chart = view.chart(panel);
      if (!workers.length || !t.length) {
        chart.destroy();
        return empty(panel, g.message || 'No GPU data in this range.');
      }
      empty(panel, '');
      const labels = workers.map((w) => (w.gpu == null ? String(w.worker) : `${w.worker} · GPU ${w.gpu}`));
      const toPercent = (v) => (v == null ? null : v * 100);
      view.gpuMemory = workers.map((w) => column(w, 'memory_used_ratio', t));
      chart.draw(`${d.range}|${t.length}|${labels.join('\n')}`, {
        height: 200, step, yMax: 100, axis: axisPercent,
        series: labels.map((label, i) => ({
          label, color: c.series[i % c.series.length],
          value: (v, idx) => (v == null ? '—' : `${Math.round(v)} %, memory ${f.percent(view.gpuMemory[i][idx], 0)}`),
        })),
      }, [t].concat(workers.map((w) => column(w, 'utilization', t).map(toPercent))));
      return 'ready';
    },

    // runpod shows the RunPod endpoint's workers and queue as last read,
    // and how long ago; a failed read since, or that none has succeeded
    // yet. Without RunPod (runpod null) the panel is hidden.
    runpod(panel, d) {
      const r = d.runpod;
      panel.hidden = !r || typeof r !== 'object';
      if (panel.hidden) return 'off';
      const now = f.date(d.generated_at) || new Date();
      const read = f.date(r.read_at);
      const failed = f.date(r.failed_at);
      const every = f.isNum(r.interval_seconds) && r.interval_seconds > 0 ? r.interval_seconds : null;
      const w = (read && r.workers) || {};
      const q = (read && r.queue) || {};
      text('runpod-running', f.count(w.running));
      text('runpod-in-queue', f.count(q.in_queue));
      text('runpod-in-progress', f.count(q.in_progress));
      for (const state of ['idle', 'ready', 'initializing', 'throttled', 'unhealthy']) text('runpod-' + state, f.count(w[state]));
      const sub = document.getElementById('runpod-read');
      sub.textContent = read ? 'read ' + f.ago(read, now) : 'not read yet';
      sub.title = read ? 'Read ' + f.fullTime(read) + (every ? `; read every ${f.duration(every)}` : '') : '';
      sub.classList.toggle('stale', !!failed || !!(read && every && now - read > 3 * every * 1000));
      const note = document.getElementById('runpod-failed');
      note.hidden = !(read && failed);
      note.textContent = note.hidden ? '' : `Last read failed ${f.ago(failed, now)}; the figures are from the last good read, ` +
        `${f.ago(read, now)} (the service's log says why).`;
      note.title = note.hidden ? '' : 'Failed ' + f.fullTime(failed);
      panel.querySelector('.runpod-figures').hidden = !read;
      const msg = panel.querySelector('.empty-message');
      msg.hidden = !!read;
      msg.classList.toggle('runpod-failed', !read && !!failed);
      msg.textContent = read ? '' : failed ? `Not read yet: the last read failed ${f.ago(failed, now)}.` :
        'Not read yet' + (every ? `: RunPod's health is read every ${f.duration(every)}.` : '.');
      return read ? 'ready' : 'empty';
    },

    // alerts shows the alerts firing, the channels they are sent through
    // and the spending cap's settings. Without alert state (an older
    // server: alerts null) the panel is hidden.
    alerts(panel, d) {
      const a = d.alerts;
      panel.hidden = !a || typeof a !== 'object';
      if (panel.hidden) return 'off';
      const now = f.date(d.generated_at) || new Date();
      const firing = (Array.isArray(a.firing) ? a.firing : []).slice().sort((x, y) =>
        (severityRank[x.severity] ?? 2) - (severityRank[y.severity] ?? 2) || String(x.since).localeCompare(String(y.since)));
      document.getElementById('alerts-firing').replaceChildren(...firing.map((x) => firingItem(x, now)));
      document.getElementById('alerts-none').hidden = firing.length > 0;
      text('alerts-firing-count', firing.length ? `${f.count(firing.length)} firing` : 'none firing');
      const channels = Array.isArray(a.channels) ? a.channels : [];
      panel.querySelector('#alerts-channels tbody').replaceChildren(...channels.flatMap((ch) => channelRows(ch, now)));
      document.getElementById('alerts-channels').hidden = !channels.length;
      document.getElementById('alerts-no-channel').hidden = channels.some((ch) => ch.configured);
      text('alerts-cap', capSettings(a.cap));
      return 'ready';
    },

    // webhooks lists the customers whose webhook endpoints failed in the
    // last 24 h (whatever the range), most given up first: the endpoint as
    // displayed (never its URL), how many deliveries retry, were given up
    // and arrived, the last failure and when, and the last delivery.
    // Without webhook health (an older server: webhooks null) the panel
    // is hidden.
    webhooks(panel, d) {
      const w = d.webhooks;
      panel.hidden = !w || typeof w !== 'object';
      if (panel.hidden) return 'off';
      const now = f.date(d.generated_at) || new Date();
      const failing = Array.isArray(w.failing) ? w.failing : [];
      text('webhooks-count', failing.length ? `${f.count(failing.length)} failing, last 24 h` : 'failing endpoints, last 24 h');
      const rows = failing.map((x) => {
        const tried = moment(x.last_attempt_at);
        const delivered = moment(x.last_delivered_at);
        const status = f.isNum(x.last_status) && x.last_status > 0 ? 'HTTP ' + x.last_status : 'no answer';
        const why = node('span', 'webhook-failure');
        why.append(node('span', 'webhook-status', status));
        if (x.last_error) why.append(' ', node('span', 'webhook-error', x.last_error));
        const tr = row([
          { text: x.customer, cls: 'customer', title: x.customer },
          { text: x.endpoint, cls: 'mono endpoint', title: x.endpoint },
          { text: f.count(x.retrying), cls: 'num' + (x.retrying > 0 ? ' warn' : '') },
          { text: f.count(x.failed), cls: 'num' + (x.failed > 0 ? ' bad' : '') },
          { text: `${f.count(x.delivered)} / ${f.count(x.deliveries)}`, cls: 'num' },
          { node: why, cls: 'message', title: status + (x.last_error ? ': ' + x.last_error : '') },
          { node: at(tried, now), cls: 'num', title: tried ? f.fullTime(tried) + ' (' + f.ago(tried, now) + ')' : '' },
          { node: delivered ? at(delivered, now) : node('span', 'outcome never', 'none'), cls: 'num',
            title: delivered ? f.fullTime(delivered) : 'Nothing delivered in the last 24 h' },
        ]);
        tr.dataset.customer = String(x.customer || '');
        return tr;
      });
      return fill(panel, rows, 'No failing webhook endpoints in the last 24 h');
    },

    'requests-hourly'(panel, d, view) {
      return requests(panel, (d.requests || {}).hourly, view, 3600, false);
    },

    'requests-daily'(panel, d, view) {
      return requests(panel, (d.requests || {}).daily, view, 86400, true, d.timezone || view.timezone);
    },

    workers(panel, d) {
      const now = f.date(d.generated_at) || new Date();
      const rows = (Array.isArray(d.workers) ? d.workers : []).map((w) => {
        const seen = f.date(w.last_seen);
        const stale = seen && now - seen > 5 * 60 * 1000;
        return row([
          { text: w.worker, cls: 'mono' },
          { node: meter(w.busy_ratio), text: f.percent(w.busy_ratio, 0), cls: 'busy' },
          { text: `${f.span(w.busy_seconds)} / ${f.span(w.capacity_seconds)}`, cls: 'num' },
          { text: f.ago(seen, now), cls: 'num' + (stale ? ' stale' : ''), title: f.fullTime(seen) },
        ]);
      });
      return fill(panel, rows, 'No workers reported in this range.');
    },

    'top-customers'(panel, d) {
      const cost = (x) => (f.isNum(x.cost_usd) ? x.cost_usd : -1);
      const list = (Array.isArray(d.top_customers) ? d.top_customers : []).slice().sort((a, b) => cost(b) - cost(a));
      const rows = list.map((x) => row([
        { text: x.customer, cls: 'customer', title: x.customer },
        { text: f.count(x.runs), cls: 'num' },
        { text: f.seconds(x.billed_seconds), cls: 'num' },
        { text: f.money(x.cost_usd), cls: 'num' },
        { text: f.money(x.today_usd), cls: 'num muted' },
        { text: f.money(x.month_usd), cls: 'num muted' },
      ]));
      return fill(panel, rows, 'Nothing billed in this range.');
    },

    failures(panel, d) {
      const now = f.date(d.generated_at) || new Date();
      const rows = (Array.isArray(d.recent_failures) ? d.recent_failures : []).map((x) => {
        const at = f.date(x.at);
        const id = String(x.job_id || '');
        return row([
          { text: f.when(at, now), cls: 'nowrap', title: f.fullTime(at) },
          { text: x.customer, cls: 'customer', title: x.customer },
          { node: node('code', 'badge', x.code) },
          { text: x.message, cls: 'message', title: x.message },
          { text: id.length > 8 ? id.slice(0, 8) + '…' : id, cls: 'mono', title: id },
        ]);
      });
      return fill(panel, rows, 'No failures in this range.');
    },
  };

  // setText changes an element's text only when it differs, so an alert
  // region is not announced again at every poll.
  function setText(e, s) {
    if (e.textContent !== s) e.textContent = s;
  }

  // capBanner says, at the top of the page, that new jobs are refused
  // while the spending cap is reached: which cap, until when, and what to
  // do. Hidden otherwise, and without alert state.
  function capBanner(banner, d) {
    const cap = d.alerts && typeof d.alerts === 'object' ? d.alerts.cap : null;
    banner.hidden = !(cap && cap.exhausted);
    if (banner.hidden) return;
    const now = f.date(d.generated_at) || new Date();
    const period = { day: { cap: 'daily spending cap', usd: cap.daily_usd, spent: 'today', env: 'COST_DAILY_CAP_USD' },
      month: { cap: 'monthly spending cap', usd: cap.monthly_usd, spent: 'this month', env: 'COST_MONTHLY_CAP_USD' } }[cap.period] ||
      { cap: 'spending cap', usd: null, spent: 'so far', env: 'COST_DAILY_CAP_USD or COST_MONTHLY_CAP_USD' };
    banner.dataset.period = cap.period || '';
    setText(document.getElementById('cap-banner-reason'),
      `The ${period.cap}` + (f.isNum(period.usd) ? ` of ${f.money(period.usd)}` : '') + ' is reached' +
      (f.isNum(cap.spent_usd) ? ` (${f.money(cap.spent_usd)} spent ${period.spent})` : '') +
      ': new jobs are answered HTTP 429 budget_exhausted.');
    const resets = moment(cap.resets_at);
    const resume = document.getElementById('cap-banner-resume');
    const when = resets ? f.when(resets, now) : '';
    if (resume.dataset.resetsAt !== (cap.resets_at || '') || resume.dataset.when !== when) {
      resume.dataset.resetsAt = cap.resets_at || '';
      resume.dataset.when = when;
      if (resets) {
        const t = node('time', null, when);
        t.id = 'cap-banner-resets';
        t.dateTime = cap.resets_at;
        t.title = f.fullTime(resets);
        resume.replaceChildren('They are accepted again from ', t, '.');
      } else resume.replaceChildren('They are accepted again when the cap\'s period ends.');
    }
    setText(document.getElementById('cap-banner-action'),
      `To accept them sooner, raise ${period.env} and restart the service; otherwise wait.`);
  }

  D.capBanner = capBanner;
  D.panels = panels;
})(window.Dashboard = window.Dashboard || {});
