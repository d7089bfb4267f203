// The dashboard page: polls the data URL every few seconds, redraws the
// panels in place, and keeps the chosen time range in the URL's hash
// (#range=7d). A 401 means the session ended, a 403 that its key is no
// longer an admin's: back to the login page either way.
// Other failures keep the last data on screen under a small banner.
(function (D) {
  'use strict';

  const loginURL = '/dashboard/login';
  const f = D.format;
  const body = document.body;
  const dataURL = body.dataset.dataUrl;
  const refreshMs = Math.max(1, Number(body.dataset.refreshSeconds) || 30) * 1000;
  const buttons = Array.from(document.querySelectorAll('button.range'));
  const ranges = buttons.map((b) => b.dataset.range);
  const banner = document.getElementById('banner');
  const capBanner = document.getElementById('cap-banner');
  const updated = document.getElementById('updated');

  // view is what panels keep across polls: one chart per panel.
  const view = {
    timezone: body.dataset.timezone,
    charts: new Map(),
    chart(panel) {
      let chart = this.charts.get(panel);
      if (!chart) {
        chart = new D.charts.Chart(panel.querySelector('[data-chart]'));
        this.charts.set(panel, chart);
      }
      return chart;
    },
  };

  let range = rangeFromHash() || body.dataset.range || ranges[0];
  let timer = 0;
  let inFlight = null; // the AbortController of the poll under way
  let seq = 0; // the latest poll; an older one's answer is dropped

  function rangeFromHash() {
    const m = /(?:^#|&)range=([^&]+)/.exec(location.hash);
    const r = m && decodeURIComponent(m[1]);
    return ranges.includes(r) ? r : null;
  }

  // showRange marks the selected range everywhere it is named.
  function showRange() {
    buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.range === range)));
    document.querySelectorAll('[data-range-label]').forEach((e) => (e.textContent = f.rangeLabel(range)));
  }

  // setRange switches to r at once: the panels that follow the range wait
  // for its data, and the hash remembers it.
  function setRange(r) {
    if (r === range || !ranges.includes(r)) return;
    range = r;
    history.replaceState(null, '', '#range=' + encodeURIComponent(r));
    showRange();
    document.querySelectorAll('.panel[data-ranged]').forEach((p) => (p.dataset.state = 'loading'));
    poll();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(poll, refreshMs);
  }

  async function poll() {
    clearTimeout(timer);
    if (inFlight) inFlight.abort();
    const mine = ++seq;
    const controller = (inFlight = new AbortController());
    let again = true;
    try {
      const res = await fetch(dataURL + '?range=' + encodeURIComponent(range), {
        credentials: 'same-origin', cache: 'no-store', signal: controller.signal,
        headers: { Accept: 'application/json' },
      });
      if (res.status === 401 || res.status === 403) {
        again = false;
        location.assign(loginURL);
        return;
      }
      if (!res.ok) throw new Error('the server answered ' + res.status);
      let data;
      try {
        data = await res.json();
      } catch (e) {
        throw new Error('the answer is not JSON');
      }
      if (mine !== seq) return;
      redraw(data);
      fail('');
    } catch (e) {
      if (mine !== seq || e.name === 'AbortError') return;
      fail(e instanceof TypeError ? 'the server cannot be reached' : e.message);
    } finally {
      if (mine === seq) {
        inFlight = null;
        if (again) schedule();
      }
    }
  }

  // fail shows why the last poll failed, or hides the banner.
  function fail(why) {
    banner.hidden = !why;
    banner.textContent = why ? `Could not refresh: ${why}, retrying` : '';
    updated.classList.toggle('stale', !!why);
  }

  // redraw hands the data to every panel and to the spending cap's
  // banner; one panel's failure leaves the others drawn.
  function redraw(data) {
    for (const panel of document.querySelectorAll('.panel[data-panel]')) {
      const name = panel.dataset.panel;
      try {
        panel.dataset.state = D.panels[name](panel, data, view);
      } catch (e) {
        panel.dataset.state = 'error';
        console.error(`dashboard: drawing the ${name} panel failed:`, e);
      }
    }
    try {
      D.capBanner(capBanner, data);
    } catch (e) {
      capBanner.hidden = true;
      console.error('dashboard: drawing the spending cap banner failed:', e);
    }
    const at = f.date(data.generated_at);
    updated.textContent = 'Updated ' + f.time(at);
    updated.title = 'Data generated ' + f.fullTime(at);
    body.dataset.generatedAt = data.generated_at;
    body.dataset.shownRange = data.range;
  }

  buttons.forEach((b) => b.addEventListener('click', () => setRange(b.dataset.range)));
  window.addEventListener('hashchange', () => setRange(rangeFromHash()));
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) poll();
  });

  showRange();
  poll();
})(window.Dashboard = window.Dashboard || {});
