package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// pings tells RunPod the worker is alive, and which job it runs, every
// PingInterval until ctx ends: GET RUNPOD_WEBHOOK_PING with
// job_id=<the jobs in progress, comma-separated> (absent when none) and
// runpod_version (rp_ping.py _send_ping, worker_state.py get_job_list).
// A failed ping is logged when pings start failing and when they recover.
func (l *loop) pings(ctx context.Context) {
	if l.pingURL == "" {
		return
	}
	every := l.w.Env.PingInterval
	if every <= 0 {
		every = DefaultPingInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		err := l.ping(ctx, every)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			l.log.WarnContext(ctx, "ping failed", "error", err)
		case err == nil && failing:
			failing = false
			l.log.InfoContext(ctx, "ping recovered")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ping sends one ping, bounded by twice the interval (rp_ping.py).
func (l *loop) ping(ctx context.Context, every time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, 2*every)
	defer cancel()
	var kv []string
	if cur := l.current.Load(); cur != nil {
		kv = append(kv, "job_id", cur.id)
	}
	kv = append(kv, "runpod_version", SDKVersion)
	res, err := l.do(ctx, http.MethodGet, withParams(l.pingURL, kv...), nil, nil)
	if err != nil {
		return err
	}
	if res.status/100 != 2 {
		return &statusError{res.status}
	}
	return nil
}

// stops long-polls the stop channel until ctx ends and cancels the job
// it names (rp_scale.py monitor_stop_signals, stop_job).
func (l *loop) stops(ctx context.Context) {
	if l.stopURL == "" {
		return
	}
	fails := 0
	for ctx.Err() == nil {
		start := time.Now()
		ids, err := l.getStops(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errTooMany):
			sleep(ctx, l.pace.tooMany)
		case err != nil:
			fails++
			wait := l.backoff(fails)
			l.log.WarnContext(ctx, "polling the stop channel failed; backing off", "error", err, "wait", wait)
			sleep(ctx, wait)
		default:
			fails = 0
			for _, id := range ids {
				l.stop(ctx, id)
			}
			if len(ids) == 0 {
				sleep(ctx, l.pace.floor-time.Since(start))
			}
		}
	}
}

// getStops long-polls the stop channel once (rp_job.py
// get_stop_signals): 204 is nothing to stop, 429 errTooMany; a JSON
// answer is {"jobsToStop": [ids]}, ids that are not strings dropped; an
// answer that is not JSON is nothing to stop.
func (l *loop) getStops(ctx context.Context) ([]string, error) {
	rctx, cancel := context.WithTimeout(ctx, l.pace.stopTimeout)
	defer cancel()
	res, err := l.do(rctx, http.MethodGet, l.stopURL, nil, nil)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, nil
		}
		return nil, err
	}
	switch {
	case res.status == http.StatusNoContent:
		return nil, nil
	case res.status == http.StatusTooManyRequests:
		return nil, errTooMany
	case res.status/100 != 2:
		return nil, &statusError{res.status}
	case !res.json():
		l.log.WarnContext(ctx, "the stop channel answered no JSON", "content_type", res.ctype)
		return nil, nil
	}
	var p struct {
		JobsToStop []any `json:"jobsToStop"`
	}
	if err := json.Unmarshal(res.body, &p); err != nil {
		l.log.WarnContext(ctx, "the stop channel's answer is unreadable", "error", err)
		return nil, nil
	}
	var ids []string
	for _, v := range p.JobsToStop {
		if s, ok := v.(string); ok {
			ids = append(ids, s)
		}
	}
	return ids, nil
}

// stop cancels the job in progress if it is id; RunPod may name a job
// this worker no longer runs.
func (l *loop) stop(ctx context.Context, id string) {
	cur := l.current.Load()
	if cur == nil || cur.id != id {
		l.log.DebugContext(ctx, "RunPod asked to stop a job not in progress here", "runpod_job", id)
		return
	}
	l.log.InfoContext(ctx, "RunPod asked to stop the job in progress", "runpod_job", id)
	cur.cancel(errStopRequested)
}
