package runpodtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
)

// TestCloseLeavesNoGoroutines closes a double in the middle of
// everything: a long poll an hour long, a running in-process worker, a
// webhook waiting an hour to retry. Close ends them all, promptly. Not
// parallel: it counts the process's goroutines.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	hooks := newReceiver(t, 500)
	client := &http.Client{Transport: &http.Transport{}}
	before := runtime.NumGoroutine()

	b := &bundle{s: runpodtest.New(runpodtest.Options{LongPoll: time.Hour, WebhookRetryDelay: time.Hour})}
	b.env = envOf(b.s)
	running := make(chan struct{})
	b.s.Run(func(ctx context.Context, _ json.RawMessage, _ func(json.RawMessage)) (json.RawMessage, string) {
		close(running)
		<-ctx.Done()
		return nil, ""
	})
	b.submit(t, `{"input": {}}`)
	<-running
	id := b.submit(t, `{"input": {}, "webhook": "`+hooks.url+`"}`)
	b.takeJob(t, "pod-9")
	b.done(t, "pod-9", id, `{"output": 1}`)
	eventually(t, "the first webhook attempt", func() bool { return len(b.s.Webhooks()) == 1 })
	go func() {
		req, _ := http.NewRequest(http.MethodGet, strings.ReplaceAll(b.env["RUNPOD_WEBHOOK_GET_JOB"], "$ID", "pod-9")+"&job_in_progress=0", nil)
		req.Header.Set("Authorization", b.s.Options().WorkerKey)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(20 * time.Millisecond)

	start := time.Now()
	b.s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	b.s.Close() // twice is fine
	client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func envOf(s *runpodtest.Server) map[string]string {
	env := make(map[string]string)
	for _, kv := range s.WorkerEnv("pod") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}
