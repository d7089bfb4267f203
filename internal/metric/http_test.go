package metric

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestObserveRequestLabels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		route, method string
		status        int
		want          string // the labels of avatar_http_requests_total
	}{
		{"/status/{job_id}", "GET", 200, `{method="GET",route="/status/{job_id}",status="2xx"}`},
		{"GET /status/{job_id}", "GET", 404, `{method="GET",route="/status/{job_id}",status="4xx"}`},
		{"POST\t /generate", "POST", 202, `{method="POST",route="/generate",status="2xx"}`},
		{"", "GET", 404, `{method="GET",route="unmatched",status="4xx"}`},
		{"/generate", "BREW", 405, `{method="OTHER",route="/generate",status="4xx"}`},
		{"/generate", "get", 405, `{method="OTHER",route="/generate",status="4xx"}`},
		{"/health", "HEAD", 101, `{method="HEAD",route="/health",status="1xx"}`},
		{"/jobs", "OPTIONS", 302, `{method="OPTIONS",route="/jobs",status="3xx"}`},
		{"/jobs/{id}", "DELETE", 503, `{method="DELETE",route="/jobs/{id}",status="5xx"}`},
		{"/jobs/{id}", "PATCH", 599, `{method="PATCH",route="/jobs/{id}",status="5xx"}`},
		{"/jobs/{id}", "PUT", 0, `{method="PUT",route="/jobs/{id}",status="other"}`},
		{"/jobs/{id}", "PUT", 600, `{method="PUT",route="/jobs/{id}",status="other"}`},
	}
	for _, c := range cases {
		m := New(nil)
		got := moved(t, m, func() { m.ObserveRequest(c.route, c.method, c.status, 1500*time.Millisecond) })
		duration := c.want[:strings.LastIndex(c.want, ",status=")] + "}"
		sameSeries(t, got, snapshot{
			"avatar_http_requests_total" + c.want:                   1,
			"avatar_http_request_duration_seconds_count" + duration: 1,
			"avatar_http_request_duration_seconds_sum" + duration:   1.5,
		})
	}
}

func TestObserveRequestCountsEachRequest(t *testing.T) {
	t.Parallel()
	m := New(nil)
	for range 3 {
		m.ObserveRequest("GET /health", "GET", 200, time.Millisecond)
	}
	m.ObserveRequest("/health", "GET", 200, time.Millisecond) // the same route
	m.ObserveRequest("/health", "GET", 500, time.Millisecond)
	if got := testutil.ToFloat64(m.http.requests.WithLabelValues("/health", "GET", "2xx")); got != 4 {
		t.Errorf("2xx: %g requests, want 4", got)
	}
	if got := testutil.CollectAndCount(m.http.requests); got != 2 {
		t.Errorf("%d series, want 2", got)
	}
}

func TestObserveRequestBucket(t *testing.T) {
	t.Parallel()
	m := New(nil)
	m.ObserveRequest("POST /generate", "POST", 202, 3*time.Second) // an upload
	m.ObserveRequest("POST /generate", "POST", 202, -time.Second)  // a clock gone backwards: 0
	want := `
# HELP avatar_http_request_duration_seconds Time from a request's arrival to its handler's return, uploads included, by route and method.
# TYPE avatar_http_request_duration_seconds histogram
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="0.005"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="0.01"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="0.025"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="0.05"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="0.1"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="0.25"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="0.5"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="1"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="2.5"} 1
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="5"} 2
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="10"} 2
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="30"} 2
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="60"} 2
avatar_http_request_duration_seconds_bucket{method="POST",route="/generate",le="+Inf"} 2
avatar_http_request_duration_seconds_sum{method="POST",route="/generate"} 3
avatar_http_request_duration_seconds_count{method="POST",route="/generate"} 2
`
	if err := testutil.CollectAndCompare(m.http.duration, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// BenchmarkObserveRequest is the cost the middleware adds to every
// request, from many goroutines at once as a busy server calls it.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(nil)
	requests := []struct {
		route, method string
		status        int
	}{
		{"GET /status/{job_id}", "GET", 200},
		{"POST /generate", "POST", 202},
		{"GET /result/{job_id}", "GET", 200},
		{"", "GET", 404},
		{"GET /status/{job_id}", "GET", 429},
		{"DELETE /jobs/{job_id}", "DELETE", 204},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := requests[i%len(requests)]
			m.ObserveRequest(r.route, r.method, r.status, 42*time.Millisecond)
			i++
		}
	})
}
