// Package problem is the RFC 9457 error body every failed request gets:
// `application/problem+json` with a stable machine-readable `code`.
package problem

import (
	"fmt"
	"net/http"
	"time"
)

// ContentType is the media type of problem bodies.
const ContentType = "application/problem+json"

// Detail names one invalid part of a request.
type Detail struct {
	Location string `json:"location,omitempty" doc:"Where the problem is, e.g. body.image or query.limit"`
	Message  string `json:"message" doc:"What is wrong with it"`
}

// Problem is the body of every error response.
type Problem struct {
	Type      string   `json:"type" doc:"Always about:blank; use code to tell problems apart" example:"about:blank"`
	Title     string   `json:"title" doc:"The HTTP status text" example:"Unprocessable Entity"`
	Status    int      `json:"status" doc:"The HTTP status code" example:"422"`
	Code      string   `json:"code" doc:"Stable machine-readable error code (see the error table)" example:"invalid_image"`
	Detail    string   `json:"detail,omitempty" doc:"What went wrong, for a human" example:"the image is truncated or corrupt"`
	RequestID string   `json:"request_id,omitempty" doc:"The request's id, also in the X-Request-ID header; quote it to support"`
	Errors    []Detail `json:"errors,omitempty" doc:"The invalid parts of the request, when there are several"`
	// ResetsAt is when a refusal that lasts until a period ends lifts.
	ResetsAt *time.Time `json:"resets_at,omitempty" doc:"budget_exhausted: when the spending cap's day or month ends and new jobs are accepted again"`

	header http.Header
}

// New returns a problem with the given status, code and detail.
func New(status int, code, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// Newf is New with a formatted detail.
func Newf(status int, code, format string, args ...any) *Problem {
	return New(status, code, fmt.Sprintf(format, args...))
}

// WithHeader adds a response header (Retry-After, WWW-Authenticate…).
func (p *Problem) WithHeader(key, value string) *Problem {
	if p.header == nil {
		p.header = http.Header{}
	}
	p.header.Add(key, value)
	return p
}

// Error implements error.
func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail) }

// GetStatus returns the HTTP status (huma.StatusError).
func (p *Problem) GetStatus() int { return p.Status }

// GetHeaders returns extra response headers (huma.HeadersError).
func (p *Problem) GetHeaders() http.Header { return p.header }

// ContentType tells huma to send the problem media type.
func (p *Problem) ContentType(string) string { return ContentType }
