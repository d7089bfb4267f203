package runpod

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{"99999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.v, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt := range 70 {
		ceil := min(backoffCap, backoffBase<<min(attempt, 16))
		for range 50 {
			if d := backoff(attempt); d < 0 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", attempt, d, ceil)
			}
		}
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	const key = "rpa_KEY123"
	tests := []struct {
		name, body, want string
	}{
		{"JobAPI", `{"error": "request does not exist"}`, "request does not exist"},
		{"Message", `{"message": "Pod not found"}`, "Pod not found"},
		{"RESTv2", `{"title": "Not Found", "status": 404, "detail": "The requested Pod does not exist."}`, "The requested Pod does not exist."},
		{"RESTv2Validation", `{"title": "Unprocessable Entity", "status": 422, "detail": "Request validation failed.", "errors": ["$: additional properties 'workersMax' not allowed", 7, "$.workers.max: must be >= 0"]}`,
			"Request validation failed. ($: additional properties 'workersMax' not allowed; $.workers.max: must be >= 0)"},
		{"RESTv2EmptyErrors", `{"title": "Bad Request", "status": 400, "detail": "request could not be processed", "errors": []}`, "request could not be processed"},
		{"Text", "upstream\n\tconnect error\x00 or disconnect", "upstream connect error or disconnect"},
		{"HTML", "<html><body>502 Bad Gateway</body></html>", "(an HTML page)"},
		{"EchoedKey", `{"error": "key rpa_KEY123 is not valid"}`, "key [key] is not valid"},
		{"Empty", "", ""},
		{"Long", strings.Repeat("é", 300), strings.Repeat("é", 100) + "…"},
		{"NotUTF8", "bad \xff byte", "bad ? byte"},
	}
	for _, tc := range tests {
		if got := excerpt([]byte(tc.body), key); got != tc.want {
			t.Errorf("%s: excerpt = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAPIErrorText(t *testing.T) {
	t.Parallel()
	e := &APIError{Op: "run", Status: 503, Message: "busy"}
	if got, want := e.Error(), "runpod run: 503 Service Unavailable: busy"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	for status, want := range map[int]bool{400: false, 401: false, 404: false, 429: true, 500: true, 502: true, 504: true} {
		if got := (&APIError{Status: status}).Temporary(); got != want {
			t.Errorf("Temporary() of %d = %v, want %v", status, got, want)
		}
	}
}
