// How the dashboard writes numbers, money, durations and times. Pure
// functions: every one takes null (no data) and answers "—".
(function (D) {
  'use strict';

  const none = '—';
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const fixed = (v, digits) =>
    v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

  // count: 1234 → "1,234".
  function count(v) {
    return isNum(v) ? fixed(Math.round(v), 0) : none;
  }

  // percent: a ratio, 0.932 → "93.2 %".
  function percent(ratio, digits = 1) {
    return isNum(ratio) ? fixed(ratio * 100, digits) + ' %' : none;
  }

  // money: "$1.23", and four decimals under a dollar ("$0.0021").
  function money(v) {
    if (!isNum(v)) return none;
    if (v === 0) return '$0.00';
    const sign = v < 0 ? '-' : '';
    const a = Math.abs(v);
    return sign + '$' + fixed(a, a < 1 ? 4 : 2);
  }

  // duration: seconds as people say them: "850 ms", "1.2 s", "42 s",
  // "2 min 5 s", "1 h 12 min".
  function duration(s) {
    if (!isNum(s)) return none;
    if (s < 1) return Math.round(s * 1000) + ' ms';
    if (s < 10) return fixed(s, 1) + ' s';
    const t = Math.round(s);
    if (t < 60) return t + ' s';
    if (t < 3600) {
      const m = Math.floor(t / 60), r = t % 60;
      return r ? `${m} min ${r} s` : `${m} min`;
    }
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60);
    return m ? `${h} h ${m} min` : `${h} h`;
  }

  // span: a long stretch of time, to the minute once it passes ten
  // minutes: "2 min 10 s", "48 min", "20 h 52 min".
  function span(s) {
    return isNum(s) && s >= 600 ? duration(Math.round(s / 60) * 60) : duration(s);
  }

  // seconds: billed seconds, "120.5 s", "6,497 s".
  function seconds(v) {
    if (!isNum(v)) return none;
    return (v < 100 ? fixed(v, 1) : fixed(Math.round(v), 0)) + ' s';
  }

  // rate: a small price, three significant digits: "$0.00019".
  function rate(v) {
    return isNum(v) ? '$' + v.toLocaleString('en-US', { maximumSignificantDigits: 3 }) : none;
  }

  // compact: axis ticks, 1200 → "1.2k".
  function compact(v) {
    if (!isNum(v)) return '';
    const a = Math.abs(v);
    if (a >= 1e6) return +(v / 1e6).toFixed(1) + 'M';
    if (a >= 1e3) return +(v / 1e3).toFixed(1) + 'k';
    return String(+v.toFixed(2));
  }

  // date parses an RFC 3339 string; null when absent or invalid.
  function date(s) {
    if (typeof s !== 'string') return null;
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const hm = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  const dayClock = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

  // time: the browser's local time of day, "10:15:03".
  function time(d) {
    return d ? clock.format(d) : none;
  }

  // when: a moment in a table, the time of day when it is today, else
  // the date and time ("Dec 2, 10:01").
  function when(d, now) {
    if (!d) return none;
    return d.toDateString() === (now || new Date()).toDateString() ? hm.format(d) : dayClock.format(d);
  }

  // fullTime: for title attributes.
  function fullTime(d) {
    return d ? full.format(d) : '';
  }

  // ago: how long before now, "4 s ago", "3 min ago", "2 h ago", "5 d ago".
  function ago(d, now) {
    if (!d) return none;
    const s = Math.max(0, Math.round(((now || new Date()) - d) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  // rangeLabel: "24h" → "last 24 h", "7d" → "last 7 days".
  function rangeLabel(r) {
    const m = /^(\d+)([mhd])$/.exec(r || '');
    if (!m) return r || '';
    const n = Number(m[1]);
    const unit = { m: 'min', h: n === 1 ? 'hour' : 'h', d: n === 1 ? 'day' : 'days' }[m[2]];
    return n === 1 ? 'last ' + unit : `last ${n} ${unit}`;
  }

  D.format = { isNum, count, percent, money, rate, duration, span, seconds, compact, date, time, when, fullTime, ago, rangeLabel };
})(window.Dashboard = window.Dashboard || {});
