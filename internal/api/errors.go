package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"syscall"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/ffmpeg"
	"github.com/avatar-api/avatar-api/internal/job"
	"github.com/avatar-api/avatar-api/internal/logging"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/refusal"
)

// Error codes of the API itself. The codes of refused inputs come from
// packages refusal, media and face; every code is in docs/API.md, and
// TestErrorCodesDocumented finds them all in the code.
const (
	CodeBadRequest          = "bad_request"
	CodeUnauthorized        = "unauthorized"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeInvalidRequest      = "invalid_request"
	CodeMissingField        = "missing_field"
	CodeUnsupportedMedia    = "unsupported_media_type"
	CodeRequestTooLarge     = "request_too_large"
	CodeRequestTimeout      = "request_timeout"
	CodeImageTooLarge       = "image_too_large"
	CodeAudioTooLarge       = "audio_too_large"
	CodeJobNotFinished      = "job_not_finished"
	CodeJobHasNoResult      = "job_has_no_result"
	CodeResultExpired       = "result_expired"
	CodeJobAlreadyEnded     = "job_already_ended"
	CodeIdempotencyMismatch = "idempotency_key_reused"
	CodeInternal            = "internal_error"
	CodeUnavailable         = "service_unavailable"
	CodeKeyRevoked          = "key_revoked"
	CodeKeyExpired          = "key_expired"
	// CodeClientClosed is logged (the client never reads it) for a
	// request whose client hung up before it was answered: status 499, as
	// nginx logs it.
	CodeClientClosed = "client_closed_request"
)

// statusClientClosed is nginx's status for a request its client abandoned.
const statusClientClosed = 499

// statusOfMediaCode is the HTTP status of each input refusal.
var statusOfMediaCode = map[string]int{
	media.CodeUnsupportedImageType: http.StatusUnsupportedMediaType,
	media.CodeUnsupportedAudioType: http.StatusUnsupportedMediaType,
}

// defaultCodes names problems that carry no code of their own.
var defaultCodes = map[int]string{
	http.StatusBadRequest:            CodeBadRequest,
	http.StatusUnauthorized:          CodeUnauthorized,
	http.StatusNotFound:              CodeNotFound,
	http.StatusMethodNotAllowed:      CodeMethodNotAllowed,
	http.StatusRequestTimeout:        CodeRequestTimeout,
	http.StatusRequestEntityTooLarge: CodeRequestTooLarge,
	http.StatusUnsupportedMediaType:  CodeUnsupportedMedia,
	http.StatusUnprocessableEntity:   CodeInvalidRequest,
	http.StatusServiceUnavailable:    CodeUnavailable,
}

// sentinelProblems is what each service sentinel tells the client.
var sentinelProblems = []struct {
	err    error
	status int
	code   string
	detail string
}{
	{apikey.ErrNotFound, http.StatusNotFound, CodeNotFound, "no key with this id"},
	{apikey.ErrExpired, http.StatusConflict, CodeKeyExpired, "the key has expired"},
	{apikey.ErrRevoked, http.StatusConflict, CodeKeyRevoked, "the key is revoked"},
	{job.ErrNotFound, http.StatusNotFound, CodeNotFound, "no job with this id belongs to your key"},
	{job.ErrNotFinished, http.StatusConflict, CodeJobNotFinished, "the job has not finished yet; poll its status"},
	{job.ErrNoResult, http.StatusConflict, CodeJobHasNoResult, "the job ended without a video; its status says why"},
	{job.ErrExpired, http.StatusGone, CodeResultExpired, "the video was deleted after its retention period"},
	{job.ErrFinal, http.StatusConflict, CodeJobAlreadyEnded, "the job has already ended"},
	{job.ErrIdempotencyMismatch, http.StatusUnprocessableEntity, CodeIdempotencyMismatch,
		"this Idempotency-Key was already used with different inputs"},
	{job.ErrBusy, http.StatusServiceUnavailable, CodeUnavailable,
		"the service is busy checking other uploads; retry shortly with the same Idempotency-Key"},
	{job.ErrUnavailable, http.StatusServiceUnavailable, CodeUnavailable,
		"the service cannot store the job right now; retry shortly with the same Idempotency-Key"},
	// A disk that is full or read-only, wherever a request's files are
	// written (its upload, the checked copies of its media): the
	// service's trouble, not the request's, and it passes.
	{syscall.ENOSPC, http.StatusServiceUnavailable, CodeUnavailable, noDisk},
	{syscall.EDQUOT, http.StatusServiceUnavailable, CodeUnavailable, noDisk},
	{syscall.EROFS, http.StatusServiceUnavailable, CodeUnavailable, noDisk},
	{ffmpeg.ErrNotStarted, http.StatusServiceUnavailable, CodeUnavailable,
		"the service cannot check media right now; retry shortly with the same Idempotency-Key"},
	{errRecords, http.StatusServiceUnavailable, CodeUnavailable,
		"the service cannot read or write its records right now; retry shortly"},
}

// errRecords marks a failure to read or write the service's records (the
// database down) where a handler reaches the store itself: 503 with
// Retry-After, like an outage anywhere else.
var errRecords = errors.New("the service's records are unavailable")

// recordsDown passes err on when it is an answer of its own (a problem, a
// refusal, a parameter's error, a known sentinel, the client gone) and
// marks anything else, a store's failure, as errRecords.
func recordsDown(err error) error {
	if err == nil || answered(err) {
		return err
	}
	return fmt.Errorf("%w: %w", errRecords, err)
}

// answered reports whether err already says what the client is told:
// fromErrors makes something of it besides the bare status it is given.
func answered(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	p := fromErrors(0, "", []error{err})
	return p.Status != 0 || p.Detail != "" || len(p.Errors) > 0
}

// noDisk is the detail of a request refused for want of a writable disk.
const noDisk = "the service cannot write to its disk right now; retry shortly with the same Idempotency-Key"

var installOnce sync.Once

// installErrors makes huma build every error body through toProblem, so
// that handlers simply return service errors and this file alone decides
// what the client sees. huma's hooks are global, so they hold no state: the
// API's logger travels in the request (withLogger).
func installErrors() {
	installOnce.Do(func() {
		huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
			return toProblem(context.Background(), slog.Default(), status, msg, errs)
		}
		huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
			if hctx == nil {
				return toProblem(context.Background(), slog.Default(), status, msg, errs)
			}
			log, ok := hctx.Context().Value(loggerKey{}).(*slog.Logger)
			if !ok {
				log = slog.Default()
			}
			return toProblem(hctx.Context(), log, status, msg, errs)
		}
	})
}

type loggerKey struct{}

// withLogger puts the API's logger in each request for the error hooks.
func withLogger(log *slog.Logger) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		next(huma.WithValue(ctx, loggerKey{}, log))
	}
}

// finishProblem runs on every response body before it is written: it
// stamps the request id on problems that handlers returned ready-made (huma
// writes those without calling NewError) and sends their headers
// (Retry-After…), which huma only sends for errors handlers return.
func finishProblem(ctx huma.Context, _ string, v any) (any, error) {
	p, ok := v.(*problem.Problem)
	if !ok {
		return v, nil
	}
	if p.RequestID == "" {
		p.RequestID = logging.Attr(ctx.Context(), "request_id")
	}
	for k, vs := range p.GetHeaders() {
		for _, v := range vs {
			ctx.SetHeader(k, v)
		}
	}
	return v, nil
}

// toProblem turns a status and the errors behind it into the response.
func toProblem(ctx context.Context, log *slog.Logger, status int, msg string, errs []error) *problem.Problem {
	if ctx.Err() != nil && errors.Is(errors.Join(errs...), context.Canceled) {
		// The client hung up: not the service's failure, nothing to log
		// as one, and (see charge) not given back to the rate limit.
		p := problem.New(statusClientClosed, CodeClientClosed, "the client closed the connection before the answer")
		p.RequestID = logging.Attr(ctx, "request_id")
		return p
	}
	p := fromErrors(status, msg, errs)
	if p.Status == http.StatusServiceUnavailable && len(errs) > 0 {
		log.WarnContext(ctx, "request refused: dependency unavailable", "error", errors.Join(errs...))
	}
	if p.Status >= 500 && p.Status != http.StatusServiceUnavailable {
		log.ErrorContext(ctx, "request failed", "status", p.Status, "error", errors.Join(errs...))
		p.Detail = "an internal error occurred; quote the request id when reporting it"
	}
	if p.Code == "" {
		p.Code = defaultCodes[p.Status]
		if p.Code == "" {
			p.Code = CodeInternal
		}
	}
	p.RequestID = logging.Attr(ctx, "request_id")
	return p
}

func fromErrors(status int, msg string, errs []error) *problem.Problem {
	var details []problem.Detail
	for _, err := range errs {
		var (
			p  *problem.Problem
			re *refusal.Error
			oe *job.OptionError
			pe *apikey.ParamError
			ed huma.ErrorDetailer
		)
		switch {
		case errors.As(err, &p):
			return p
		case errors.As(err, &re):
			st := statusOfMediaCode[re.Code]
			if st == 0 {
				st = http.StatusUnprocessableEntity
			}
			return problem.New(st, re.Code, re.Message)
		case errors.As(err, &oe):
			return problem.Newf(http.StatusUnprocessableEntity, CodeInvalidRequest, "%s %s", oe.Field, oe.Message)
		case errors.As(err, &pe):
			return problem.Newf(http.StatusUnprocessableEntity, CodeInvalidRequest, "%s %s", pe.Field, pe.Message)
		case errors.As(err, &ed):
			d := ed.ErrorDetail()
			details = append(details, problem.Detail{Location: d.Location, Message: d.Message})
		default:
			for _, sp := range sentinelProblems {
				if errors.Is(err, sp.err) {
					p := problem.New(sp.status, sp.code, sp.detail)
					if sp.status == http.StatusServiceUnavailable {
						p.WithHeader("Retry-After", "5")
					}
					return p
				}
			}
		}
	}
	p := problem.New(status, "", msg)
	p.Errors = details
	if len(details) == 1 {
		p.Detail = details[0].Location + ": " + details[0].Message
		p.Errors = nil
	}
	return p
}
