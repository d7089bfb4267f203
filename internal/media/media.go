// Package media checks uploaded portraits and speech recordings before a job
// is queued, so that a bad upload is refused at once with a clear reason
// instead of failing minutes later inside the generator.
//
// Every check sniffs the content itself: file names and declared content
// types are never trusted.
package media

import (
	"fmt"
	"time"
)

// Stable error codes carried by *Error. Clients may switch on them.
const (
	CodeUnsupportedImageType = "unsupported_image_type"
	CodeInvalidImage         = "invalid_image"
	CodeImageTooLarge        = "image_dimensions_too_large"
	CodeImageTooSmall        = "image_dimensions_too_small"
	CodeUnsupportedAudioType = "unsupported_audio_type"
	CodeInvalidAudio         = "invalid_audio"
	CodeAudioTooLong         = "audio_too_long"
	CodeAudioTooShort        = "audio_too_short"
	CodeInvalidPrompt        = "invalid_prompt"
	CodePromptTooLong        = "prompt_too_long"
)

// Error is a refusal caused by the upload itself. Code is stable and
// machine-readable; Message is a sentence that is safe to show the customer
// (it never contains server paths). Use errors.As to find it.
type Error struct {
	Code    string
	Message string
	// Detail is what the decoder itself said, for the operator's log only:
	// ffmpeg's words mean nothing to a customer and describe the server.
	Detail string
}

// Error returns the code, the message and the detail, for logs.
func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Code + ": " + e.Message + " (" + e.Detail + ")"
	}
	return e.Code + ": " + e.Message
}

func (e *Error) withDetail(d string) *Error {
	e.Detail = d
	return e
}

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Limits bounds what an upload may be. A zero field takes its value from
// DefaultLimits, so a forgotten field never disables a safety check.
type Limits struct {
	MaxImageDimension int // largest width or height, in pixels
	MaxImagePixels    int // largest width × height
	MinImageDimension int // smallest width or height, in pixels
	MaxAudioDuration  time.Duration
	MinAudioDuration  time.Duration
}

// DefaultLimits returns limits suited to a talking-portrait service: images
// up to 4096 pixels a side (16.7 megapixels, 64 MiB decoded) and at least
// 64 pixels a side; speech from half a second to five minutes.
func DefaultLimits() Limits {
	return Limits{
		MaxImageDimension: 4096,
		MaxImagePixels:    4096 * 4096,
		MinImageDimension: 64,
		MaxAudioDuration:  5 * time.Minute,
		MinAudioDuration:  500 * time.Millisecond,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxImageDimension <= 0 {
		l.MaxImageDimension = d.MaxImageDimension
	}
	if l.MaxImagePixels <= 0 {
		l.MaxImagePixels = d.MaxImagePixels
	}
	if l.MinImageDimension <= 0 {
		l.MinImageDimension = d.MinImageDimension
	}
	if l.MaxAudioDuration <= 0 {
		l.MaxAudioDuration = d.MaxAudioDuration
	}
	if l.MinAudioDuration <= 0 {
		l.MinAudioDuration = d.MinAudioDuration
	}
	return l
}
