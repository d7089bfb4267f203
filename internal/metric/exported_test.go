package metric

import (
	"bufio"
	"context"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// exportedList is the committed list of the families we export, which
// deploy/prometheus and deploy/grafana are checked against
// (tools/deploycheck).
const exportedList = "../../deploy/metrics.txt"

// TestExportedListIsTrue keeps deploy/metrics.txt true: it moves every
// collector (a vector shows a family only once it has a child, a source
// only once it is set), gathers the registry, and fails on a family the
// list lacks or a name it lists that the registry does not export.
func TestExportedListIsTrue(t *testing.T) {
	t.Parallel()
	m := everyFamily()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	listed := readList(t, exportedList)

	for _, name := range slices.Sorted(maps.Keys(exported)) {
		if !listed[name] {
			t.Errorf("%s is exported but not listed in deploy/metrics.txt: add it", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(listed)) {
		// The process collector exports some families on Linux only.
		if strings.HasPrefix(name, "process_") && runtime.GOOS != "linux" {
			continue
		}
		if !exported[name] {
			t.Errorf("%s is listed in deploy/metrics.txt but not exported: remove it", name)
		}
	}
}

// everyFamily is a Metrics with a child in every vector and every source
// set, so that Gather returns every family the service can export.
func everyFamily() *Metrics {
	m := New(func() bool { return false })
	m.RateLimited.WithLabelValues("hourly").Inc()
	m.ObserveRequest("GET /status/{job_id}", "GET", 200, time.Millisecond)
	m.JobSubmitted("local")
	m.JobStarted("local", time.Second)
	m.RunEnded("local", Completed, time.Second, time.Second, 0.001)
	m.JobFinished("local", Completed, "", time.Second)
	m.SetQueueSource(func(context.Context) ([]QueueDepth, error) {
		return []QueueDepth{{Backend: "local", Queued: 1, Running: 1}}, nil
	})
	m.SetWorkerSource(func() WorkerUse { return WorkerUse{Slots: 1} })
	m.SetGPUSource(func() []GPUReading { return []GPUReading{{GPU: 0}} })
	m.SetRunPodSource(func() (RunPodHealth, bool) {
		return RunPodHealth{Workers: map[string]int{"idle": 1}, Jobs: map[string]int{"in_queue": 0}, At: time.Now()}, true
	})
	m.RunPodHealthFailed()
	m.SetAlertSource(func(context.Context) (AlertState, error) {
		return AlertState{
			Firing:   map[string]int{"queue_wait": 1},
			Channels: []AlertChannel{{Channel: "webhook:example.com:1f2e3d4c"}},
		}, nil
	})
	m.AlertAttempt("webhook:example.com:1f2e3d4c", true)
	m.WebhookAttempt("job.completed", true, false, time.Millisecond)
	m.JobsRescued(1)
	m.Collected(1, 1, 1)
	m.JobDeferred()
	m.SetReadySource(func(context.Context) map[string]string { return map[string]string{"database": "ok"} })
	return m
}

// readList is the names of a list of one family a line; blank lines and
// lines starting with # are left out.
func readList(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the list of exported families: %v", err)
	}
	defer f.Close()
	names := map[string]bool{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if names[line] {
			t.Errorf("deploy/metrics.txt lists %s twice", line)
		}
		names[line] = true
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
