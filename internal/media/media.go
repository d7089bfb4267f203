// Package media checks uploaded portraits and speech recordings before a job
// is queued, so that a bad upload is refused at once with a clear reason
// instead of failing minutes later inside the generator. It also checks
// the videos that generators running elsewhere send back (CheckVideo).
//
// Every check sniffs the content itself: file names and declared content
// types are never trusted.
package media

import (
	"time"
)

// Stable codes of the refusals (*refusal.Error) only the upload checks
// make; invalid_image and invalid_audio are refusal's. Clients may switch
// on them.
const (
	CodeUnsupportedImageType = "unsupported_image_type"
	CodeImageTooLarge        = "image_dimensions_too_large"
	CodeImageTooSmall        = "image_dimensions_too_small"
	CodeUnsupportedAudioType = "unsupported_audio_type"
	CodeAudioTooLong         = "audio_too_long"
	CodeAudioTooShort        = "audio_too_short"
	CodeInvalidPrompt        = "invalid_prompt"
	CodePromptTooLong        = "prompt_too_long"
)

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
