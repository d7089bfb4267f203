package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzWrite writes problems with any code, detail, request id and header
// value: the answer has the problem's status and media type, and its body
// is one JSON object holding type, title, status and code as they were
// given (invalid UTF-8 replaced, as encoding/json does).
func FuzzWrite(f *testing.F) {
	f.Add(422, "invalid_image", "the image is truncated or corrupt", "", "5", http.MethodPost)
	f.Add(404, CodeNotFound, "", "0193a3b4-7c1d", "", http.MethodGet)
	f.Add(500, CodeInternal, "</script>\u2028\x00\xff", "id\n", "x\r\nSet-Cookie: a=b", http.MethodHead)
	f.Add(503, "service_unavailable", `"quoted" \ detail`, "", "5", "PATCH")
	f.Fuzz(func(t *testing.T, status int, code, detail, requestID, retryAfter, method string) {
		if status < 400 || status > 599 { // problems answer errors only
			status = 400 + int(uint(status)%200)
		}
		if code == "" {
			code = "bad_request"
		}
		p := New(status, code, detail)
		p.RequestID = requestID
		if retryAfter != "" {
			p.WithHeader("Retry-After", retryAfter)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method = method
		rec := httptest.NewRecorder()
		Write(rec, req, p)
		if rec.Code != status || rec.Header().Get("Content-Type") != ContentType {
			t.Fatalf("answered %d %q; want %d %s", rec.Code, rec.Header().Get("Content-Type"), status, ContentType)
		}
		if method == http.MethodHead {
			if rec.Body.Len() != 0 {
				t.Fatalf("HEAD answered with a body: %q", rec.Body)
			}
			return
		}
		dec := json.NewDecoder(rec.Body)
		var got Problem
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("the body is not JSON: %v", err)
		}
		if dec.More() {
			t.Fatal("the body holds more than one JSON value")
		}
		valid := func(s string) string { return string([]rune(s)) } // each invalid byte becomes U+FFFD
		if got.Type != "about:blank" || got.Title != http.StatusText(status) || got.Status != status ||
			got.Code != valid(code) || got.Detail != valid(detail) || got.RequestID != valid(requestID) {
			t.Fatalf("wrote %+v; want %d %q %q", got, status, code, detail)
		}
	})
}
