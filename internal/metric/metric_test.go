package metric

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// snapshot is the avatar_ series of a scrape, by name and labels
// (`avatar_jobs_submitted_total{backend="local"}`); a histogram counts as
// its _count and _sum, its buckets are read with lowestBucket.
type snapshot map[string]float64

func scrape(t *testing.T, m *Metrics) snapshot {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "avatar_") {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := labelsOf(metric)
			switch {
			case metric.Counter != nil:
				s[f.GetName()+labels] = metric.Counter.GetValue()
			case metric.Gauge != nil:
				s[f.GetName()+labels] = metric.Gauge.GetValue()
			case metric.Histogram != nil:
				s[f.GetName()+"_count"+labels] = float64(metric.Histogram.GetSampleCount())
				s[f.GetName()+"_sum"+labels] = metric.Histogram.GetSampleSum()
			default:
				t.Fatalf("%s: a type this test does not read", f.GetName())
			}
		}
	}
	return s
}

// labelsOf is a series' labels as the text format writes them, in the
// registry's order (by name).
func labelsOf(metric *dto.Metric) string {
	var pairs []string
	for _, l := range metric.GetLabel() {
		pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(pairs, ",") + "}"
}

// moved is the series that changed, appeared or vanished (as NaN).
func moved(t *testing.T, m *Metrics, do func()) snapshot {
	t.Helper()
	before := scrape(t, m)
	do()
	after := scrape(t, m)
	diff := snapshot{}
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			diff[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			diff[k] = math.NaN()
		}
	}
	return diff
}

// sameSeries fails the test unless got and want hold the same series and
// values (to a nanosecond's rounding, for sums of durations).
func sameSeries(t *testing.T, got, want snapshot) {
	t.Helper()
	equal := maps.EqualFunc(got, want, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	if !equal {
		t.Errorf("series moved:\n%s\nwant:\n%s", got, want)
	}
}

func (s snapshot) String() string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		lines = append(lines, fmt.Sprintf("  %s %g", k, s[k]))
	}
	return strings.Join(lines, "\n")
}

// lowestBucket is the upper bound of the lowest bucket of a histogram's
// series (labels as labelsOf writes them) that holds an observation.
func lowestBucket(t *testing.T, m *Metrics, name, labels string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			if labelsOf(metric) != labels {
				continue
			}
			for _, b := range metric.GetHistogram().GetBucket() {
				if b.GetCumulativeCount() > 0 {
					return b.GetUpperBound()
				}
			}
			return math.Inf(1)
		}
	}
	t.Fatalf("no series %s%s", name, labels)
	return 0
}

func TestNilMetricsRecordNothing(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.ObserveRequest("/health", "GET", 200, 0)
	m.JobSubmitted("local")
	m.JobStarted("local", 0)
	m.RunEnded("local", Completed, 0, 0, 0)
	m.JobFinished("local", Completed, "", 0)
	m.SetQueueSource(nil)
	m.SetWorkerSource(nil)
	m.SetGPUSource(nil)
	m.JobsRescued(1)
	m.SetReadySource(nil)
}
