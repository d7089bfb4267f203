// The dashboard's charts: uPlot time series (lines, bars, stacked bars)
// styled alike, kept across polls and fitted to their cards.
(function (D) {
  'use strict';

  const f = D.format;
  const font = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  const ink = '#5b6472';
  const rule = '#eceff3';

  // colors are the dashboard's palette: status classes and outcomes keep
  // their meaning in every chart; lines take the series colours in turn.
  const colors = {
    ok: '#2f9e6e', warn: '#e0a030', bad: '#d64545', muted: '#a3acb9',
    p50: '#7fb0f5', p95: '#2563eb', p99: '#6d3fd6', cost: '#4f5bd5',
    series: ['#2563eb', '#0f9488', '#e0a030', '#8b5cf6', '#db2777', '#65a30d', '#0891b2', '#d64545'],
  };

  // axisSize fits a y axis to its widest label.
  function axisSize(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    let widest = 0;
    u.ctx.font = axis.font[0];
    for (const v of values || []) widest = Math.max(widest, u.ctx.measureText(v).width);
    return Math.ceil(axis.ticks.size + axis.gap + widest / devicePixelRatio) + 2;
  }

  // timeLabels labels a time axis in the zone tz (the browser's own when
  // undefined): times of day with the date under the first tick and each
  // new day, or dates alone for daily charts.
  function timeLabels(tz, daily) {
    const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: tz });
    const hm = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', timeZone: tz });
    return (u, splits, axisIdx, space, incr) => {
      let last = '';
      return splits.map((ts) => {
        const d = new Date(ts * 1000);
        const date = day.format(d);
        if (daily || incr >= 86400) return date;
        const label = date === last ? hm.format(d) : hm.format(d) + '\n' + date;
        last = date;
        return label;
      });
    };
  }

  // zone is tz when the browser knows it, else undefined (the browser's
  // own): a zone name it cannot use must not stop a chart being drawn.
  function zone(tz) {
    if (!tz) return undefined;
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: tz });
      return tz;
    } catch (e) {
      return undefined;
    }
  }

  // legendTime is the x value the legend shows under the cursor.
  function legendTime(tz, daily) {
    const fmt = new Intl.DateTimeFormat(undefined, daily
      ? { weekday: 'short', month: 'short', day: 'numeric', timeZone: tz }
      : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: tz });
    return (u, ts) => (ts == null ? '—' : fmt.format(new Date(ts * 1000)));
  }

  // stack turns [t, a, b, c] into [t, a, a+b, a+b+c]: each class's bar
  // is drawn from the one below it (see bands).
  function stack(raw) {
    const acc = raw[0].map(() => 0);
    return [raw[0]].concat(raw.slice(1).map((s) => s.map((v, j) => (acc[j] += f.isNum(v) ? v : 0))));
  }

  // whole are the steps of a y axis of counts: no ticks at 2.5 requests.
  const whole = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2500, 5e3, 1e4, 2e4, 25e3, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];

  // options builds uPlot's options from a spec:
  //   height, step (seconds between points), bars, stacked, tz, daily,
  //   yMax (fixed top, else fitted), counts (whole ticks), axis (tick
  //   format), value (legend format), series: [{label, color, value?(raw, idx)}].
  function options(chart, spec) {
    spec = Object.assign({}, spec, { tz: zone(spec.tz) });
    const bars = spec.bars ? uPlot.paths.bars({ size: [0.78, 48], align: 1 }) : null;
    const opts = {
      width: chart.width(),
      height: spec.height,
      cursor: { y: false, drag: { x: false, y: false }, points: { size: 6, show: !spec.bars } },
      legend: { live: true },
      scales: {
        x: { time: true, range: (u, min, max) => [min, spec.bars ? max + spec.step : max] },
        y: { range: (u, min, max) => [0, spec.yMax || (max > 0 ? uPlot.rangeNum(0, max, 0.1, true)[1] : 1)] },
      },
      axes: [
        { font, stroke: ink, space: 64, grid: { stroke: rule, width: 1 }, ticks: { stroke: rule, width: 1, size: 4 },
          values: timeLabels(spec.tz, spec.daily) },
        { font, stroke: ink, space: 26, grid: { stroke: rule, width: 1 }, ticks: { show: false }, size: axisSize,
          values: (u, splits) => splits.map(spec.axis), incrs: spec.counts ? whole : undefined },
      ],
      series: [{ label: spec.daily ? 'Day' : 'Time', value: legendTime(spec.tz, spec.daily) }].concat(
        spec.series.map((s, i) => ({
          label: s.label,
          stroke: s.color,
          fill: bars ? s.color : undefined,
          width: bars ? 0 : 1.75,
          paths: bars || undefined,
          // A line shows a value between two others only: a lone value
          // (one busy step among empty ones) is drawn as a dot.
          points: bars ? { show: false } : { show: true, size: 5, fill: s.color, filter: isolated },
          value: (u, v, si, idx) => {
            const raw = idx == null ? null : chart.raw[i + 1][idx];
            return s.value ? s.value(raw, idx) : spec.value(raw);
          },
        }))),
    };
    if (spec.tz) opts.tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), spec.tz);
    if (spec.stacked) opts.bands = spec.series.slice(1).map((s, i) => ({ series: [i + 2, i + 1] }));
    return opts;
  }

  // isolated are the indices of the values of series si with no value on
  // either side, which a line would not show.
  function isolated(u, si) {
    const d = u.data[si];
    const out = [];
    for (let i = 0; i < d.length; i++) {
      if (d[i] != null && (i === 0 || d[i - 1] == null) && (i === d.length - 1 || d[i + 1] == null)) out.push(i);
    }
    return out;
  }

  const all = new Set();

  // Chart is one uPlot kept in its container across polls.
  class Chart {
    constructor(el) {
      this.el = el;
      this.u = null;
      this.shape = '';
      this.raw = null;
      all.add(this);
    }

    width() {
      return Math.max(120, this.el.clientWidth);
    }

    // draw shows raw ([t, ...series]): setData when shape (what the
    // options depend on: range, lengths, series) is unchanged, a new
    // uPlot otherwise. Without any step it says there is no data.
    draw(shape, spec, raw) {
      this.el.classList.toggle('no-data', !raw[0].length);
      if (!raw[0].length) {
        this.destroy();
        return;
      }
      this.raw = raw;
      const data = spec.stacked ? stack(raw) : raw;
      if (this.u && this.shape === shape) {
        this.u.setData(data);
        return;
      }
      this.destroy();
      this.el.classList.toggle('stacked', !!spec.stacked);
      this.el.classList.toggle('lines', !spec.bars);
      this.u = new uPlot(options(this, spec), data, this.el);
      this.shape = shape;
    }

    resize() {
      if (this.u) this.u.setSize({ width: this.width(), height: this.u.height });
    }

    destroy() {
      if (this.u) this.u.destroy();
      this.u = null;
      this.shape = '';
    }
  }

  // Charts are resized with the window, once per frame at most.
  let pending = false;
  window.addEventListener('resize', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      all.forEach((c) => c.resize());
    });
  });

  D.charts = { Chart, colors };
})(window.Dashboard = window.Dashboard || {});
