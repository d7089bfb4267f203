// Package refusal is the one error type for inputs refused for what they
// are: an upload that is not an image, a recording ffmpeg cannot decode, a
// portrait with no face. The upload checks (package media), the input check
// before queueing and the generators all return it, so that the API turns
// every such refusal into the same 4xx answer and a worker fails the job
// with its code instead of retrying: retrying cannot help.
package refusal

import "fmt"

// Codes more than one package refuses with. A code used by one package
// alone is defined there (media's type and size codes, face.CodeNoFace).
// Clients may switch on them; docs/API.md lists them all.
const (
	CodeInvalidImage = "invalid_image" // the image is truncated or corrupt
	CodeInvalidAudio = "invalid_audio" // the audio is truncated, corrupt, or has no audio stream
)

// Error is a refusal caused by an input itself. Use errors.As to find it.
type Error struct {
	// Code is stable and machine-readable, e.g. "invalid_image".
	Code string
	// Message is safe to show the customer: plain words, never a server
	// path or a tool's output.
	Message string
	// Detail is what the decoder itself said (ffmpeg's stderr), for the
	// operator's log only: it means nothing to a customer and describes
	// the server.
	Detail string
}

// New returns a refusal with code and a message formatted from format and
// args.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail sets the operator's detail and returns e.
func (e *Error) WithDetail(detail string) *Error {
	e.Detail = detail
	return e
}

// Error returns the code, the message and the detail, for logs.
func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Code + ": " + e.Message + " (" + e.Detail + ")"
	}
	return e.Code + ": " + e.Message
}
