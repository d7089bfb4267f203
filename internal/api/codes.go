package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/generator/face"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/problem"
	"github.com/avatar-api/avatar-api/internal/refusal"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

// The problems each operation answers, by status and code: the OpenAPI
// document lists them under each error response, each with an example,
// so that a customer's code can switch on every code it may get. The
// test harness holds every problem answered in the tests to this list
// (an undocumented one fails the test), and TestErrorCodesDocumented
// holds docs/API.md's error table to it.

// problemRef is one problem an operation answers.
type problemRef struct {
	status int
	code   string
}

// problemSummary says in a few words what each code means; docs/API.md's
// table says what to do about it.
var problemSummary = map[string]string{
	CodeBadRequest:                 "the body could not be read, or has an unexpected part",
	CodeUnauthorized:               "no API key, or not a valid one (unknown, revoked, expired)",
	CodeForbidden:                  "the key lacks this operation's scope",
	CodeNotFound:                   "no such job of yours, or no such key (ids are canonical UUIDs)",
	CodeRequestTimeout:             "the upload was too slow, or stalled",
	CodeRequestTooLarge:            "the request, or a text part, is too large",
	CodeImageTooLarge:              "the image file is larger than the limit",
	CodeAudioTooLarge:              "the audio file is larger than the limit",
	CodeUnsupportedMedia:           "the request is not multipart/form-data",
	media.CodeUnsupportedImageType: "the image is not PNG, JPEG or WebP",
	media.CodeUnsupportedAudioType: "the audio is not a supported format",
	CodeMissingField:               "image or audio is missing or empty",
	refusal.CodeInvalidImage:       "the image is truncated or corrupt",
	media.CodeImageTooLarge:        "the image is wider or taller than the limit, or would take too much memory to decode",
	media.CodeImageTooSmall:        "the image is smaller than 64 px a side",
	refusal.CodeInvalidAudio:       "the audio is truncated, corrupt, or has no audio stream",
	media.CodeAudioTooLong:         "the audio is longer than the limit",
	media.CodeAudioTooShort:        "the audio is shorter than half a second",
	media.CodeInvalidPrompt:        "the prompt is not valid UTF-8 text",
	media.CodePromptTooLong:        "the prompt is longer than the limit",
	face.CodeNoFace:                "no face was found in the image (send a frontal portrait, or face_fallback=true)",
	CodeInvalidRequest:             "a parameter is out of range or malformed",
	CodeIdempotencyMismatch:        "the Idempotency-Key was used with different inputs",
	CodeKeyInUse:                   "a request with this Idempotency-Key is still in progress: retry after Retry-After",
	webhook.CodeURLInvalid:         "the webhook_url is not an http(s) URL the service may call",
	webhook.CodeURLForbidden:       "the webhook_url's host is, or resolves to, a non-public address",
	webhook.CodeURLUnresolved:      "the webhook_url's host does not resolve",
	webhook.CodeEventsInvalid:      "webhook_events names an unknown event, or comes without a webhook URL",
	webhook.CodeSecretMissing:      "you have no webhook signing secret yet (POST /webhooks/secret)",
	CodeRateLimited:                "the key's rate limit is reached: retry after Retry-After",
	CodeAuthThrottled:              "too many failed authentications from your address: retry after Retry-After",
	CodeBudgetExhausted:            "the service's spending cap is reached: new jobs again at resets_at",
	CodeTooManyUploads:             "your key already uses its share of the upload slots",
	CodeTooManyStreams:             "your key already has 10 live status streams open on this server",
	CodeJobNotFinished:             "the job is still queued or processing",
	CodeJobHasNoResult:             "the job failed or was cancelled: it has no video",
	CodeResultExpired:              "the video was deleted after its retention period",
	CodeJobAlreadyEnded:            "the job already ended",
	CodeKeyRevoked:                 "the key is revoked",
	CodeKeyExpired:                 "the key has expired",
	CodeNoWebhook:                  "the job has sent no webhook",
	CodeInternal:                   "our fault: quote the request_id",
	CodeUnavailable:                "a dependency is down, or every upload or decoding slot is taken: retry after Retry-After",
	problem.CodeMethodNotAllowed:   "the endpoint does not take this method",
	CodeClientClosed:               "never sent: logged when the client hung up",
	codeInvalidSignature:           "the link's signature is missing or does not match: use the URL as GET /result gave it",
	codeLinkExpired:                "the link has expired: ask GET /result for a fresh one",
	// A code that means something else at another status: code@status.
	webhook.CodeSecretMissing + "@404": "you have not made a webhook signing secret yet",
}

// everyOperation are the problems of every operation of its kind, at the
// statuses it answers: a keyed one's authentication and rate limit, and
// the generic codes of each status.
var everyOperation = []problemRef{
	{http.StatusBadRequest, CodeBadRequest},
	{http.StatusUnauthorized, CodeUnauthorized},
	{http.StatusForbidden, CodeForbidden},
	{http.StatusNotFound, CodeNotFound},
	{http.StatusRequestTimeout, CodeRequestTimeout},
	{http.StatusRequestEntityTooLarge, CodeRequestTooLarge},
	{http.StatusUnsupportedMediaType, CodeUnsupportedMedia},
	{http.StatusUnprocessableEntity, CodeInvalidRequest},
	{http.StatusTooManyRequests, CodeRateLimited},
	{http.StatusTooManyRequests, CodeAuthThrottled},
	{http.StatusInternalServerError, CodeInternal},
	{http.StatusServiceUnavailable, CodeUnavailable},
}

// uploadProblems are those of a multipart upload (POST /generate and its
// estimate): the files' checks and the job's options.
var uploadProblems = []problemRef{
	{http.StatusRequestEntityTooLarge, CodeImageTooLarge},
	{http.StatusRequestEntityTooLarge, CodeAudioTooLarge},
	{http.StatusUnsupportedMediaType, media.CodeUnsupportedImageType},
	{http.StatusUnsupportedMediaType, media.CodeUnsupportedAudioType},
	{http.StatusUnprocessableEntity, CodeMissingField},
	{http.StatusUnprocessableEntity, refusal.CodeInvalidImage},
	{http.StatusUnprocessableEntity, media.CodeImageTooLarge},
	{http.StatusUnprocessableEntity, media.CodeImageTooSmall},
	{http.StatusUnprocessableEntity, refusal.CodeInvalidAudio},
	{http.StatusUnprocessableEntity, media.CodeAudioTooLong},
	{http.StatusUnprocessableEntity, media.CodeAudioTooShort},
	{http.StatusUnprocessableEntity, media.CodeInvalidPrompt},
	{http.StatusUnprocessableEntity, media.CodePromptTooLong},
	{http.StatusUnprocessableEntity, face.CodeNoFace},
	{http.StatusTooManyRequests, CodeTooManyUploads},
}

// webhookURLProblems are those of a webhook URL (a job's, or a key's).
var webhookURLProblems = []problemRef{
	{http.StatusUnprocessableEntity, webhook.CodeURLInvalid},
	{http.StatusUnprocessableEntity, webhook.CodeURLForbidden},
	{http.StatusUnprocessableEntity, webhook.CodeURLUnresolved},
}

// jobWebhookProblems are those of a job's webhook settings.
var jobWebhookProblems = append(slices.Clone(webhookURLProblems),
	problemRef{http.StatusUnprocessableEntity, webhook.CodeEventsInvalid},
	problemRef{http.StatusUnprocessableEntity, webhook.CodeSecretMissing},
)

// operationProblems are each operation's own problems, beyond
// everyOperation's.
var operationProblems = map[string][]problemRef{
	"generate": slices.Concat(uploadProblems, jobWebhookProblems, []problemRef{
		{http.StatusUnprocessableEntity, CodeIdempotencyMismatch},
		{http.StatusConflict, CodeKeyInUse},
		{http.StatusTooManyRequests, CodeBudgetExhausted},
	}),
	"estimate":          slices.Concat(uploadProblems, jobWebhookProblems),
	"status":            {{http.StatusTooManyRequests, CodeTooManyStreams}},
	"result":            {{http.StatusConflict, CodeJobNotFinished}, {http.StatusConflict, CodeJobHasNoResult}, {http.StatusGone, CodeResultExpired}},
	"cancel":            {{http.StatusConflict, CodeJobAlreadyEnded}},
	"redeliver-webhook": {{http.StatusConflict, CodeNoWebhook}},
	"webhook-secret":    {{http.StatusNotFound, webhook.CodeSecretMissing}},
	"create-key":        webhookURLProblems,
	"update-key":        webhookURLProblems,
	"revoke-key":        {{http.StatusConflict, CodeKeyRevoked}},
	"rotate-key":        {{http.StatusConflict, CodeKeyRevoked}, {http.StatusConflict, CodeKeyExpired}},
	"download":          {{http.StatusForbidden, codeInvalidSignature}, {http.StatusGone, codeLinkExpired}},
	"download-head":     {{http.StatusForbidden, codeInvalidSignature}, {http.StatusGone, codeLinkExpired}},
}

// documentProblems lists, under each error response of each operation,
// the codes it answers with, and gives each an example. An operation's own
// problems add their statuses to its responses.
func documentProblems(h huma.API) {
	doc := h.OpenAPI()
	if doc.Components.Examples == nil {
		doc.Components.Examples = map[string]*huma.Example{}
	}
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			for _, p := range operationProblems[op.OperationID] {
				s := strconv.Itoa(p.status)
				if op.Responses[s] == nil {
					op.Responses[s] = &huma.Response{Description: http.StatusText(p.status), Content: map[string]*huma.MediaType{
						problem.ContentType: {Schema: &huma.Schema{Ref: "#/components/schemas/Problem"}},
					}}
				}
			}
			for s, r := range op.Responses {
				status, err := strconv.Atoi(s)
				mt := r.Content[problem.ContentType]
				if err != nil || mt == nil {
					continue
				}
				codes := Problems(op.OperationID, status)
				if len(codes) == 0 {
					continue
				}
				var lines []string
				mt.Examples = map[string]*huma.Example{}
				for _, c := range codes {
					summary := problemSummary[c+"@"+s]
					if summary == "" {
						summary = problemSummary[c]
					}
					lines = append(lines, "- `"+c+"`: "+summary)
					// One example of each problem, in the components,
					// named by its code and status.
					name := c + "-" + s
					doc.Components.Examples[name] = &huma.Example{Summary: c, Value: map[string]any{
						"type": "about:blank", "title": http.StatusText(status), "status": status, "code": c,
						"detail": summary, "request_id": "5d1c7f0e9a2b4c6d8e0f1a2b",
					}}
					mt.Examples[c] = &huma.Example{Ref: "#/components/examples/" + name}
				}
				r.Description = http.StatusText(status) + ". The `code`s of this answer:\n" + strings.Join(lines, "\n")
			}
		}
	}
}

// Problems are the codes an operation answers with at a status, in the
// order the document lists them.
func Problems(operationID string, status int) []string {
	var codes []string
	for _, p := range slices.Concat(everyOperation, operationProblems[operationID]) {
		if p.status == status && !slices.Contains(codes, p.code) {
			codes = append(codes, p.code)
		}
	}
	return codes
}

// documentRateLimits gives every answer of a keyed operation the rate
// limit's fields (set once the key is known: every answer but a 401), and
// its refusals their Retry-After.
func documentRateLimits(h huma.API) {
	doc := h.OpenAPI()
	if doc.Components.Headers == nil {
		doc.Components.Headers = map[string]*huma.Header{}
	}
	str := func(ex string) *huma.Schema { return &huma.Schema{Type: "string", Examples: []any{ex}} }
	doc.Components.Headers["RateLimit"] = &huma.Header{Schema: str(`"polling";r=587;t=41`),
		Description: "The key's rate limit now (IETF RateLimit fields): the policy's name, the requests remaining (r) and the seconds until one more is allowed (t)."}
	doc.Components.Headers["RateLimit-Policy"] = &huma.Header{Schema: str(`"polling";q=600;w=60`),
		Description: "The policy this operation counts against: at most q requests in any w seconds (`hourly` for POST /generate and its estimate, `polling` for the rest)."}
	doc.Components.Headers["Retry-After"] = &huma.Header{Schema: &huma.Schema{Type: "integer", Examples: []any{41}},
		Description: "Seconds to wait before trying again: exact for a rate limit, the time the spending cap resets for budget_exhausted."}
	ref := func(name string) *huma.Header { return &huma.Header{Ref: "#/components/headers/" + name} }
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil || len(op.Security) == 0 || len(op.Security[0]) == 0 {
				continue // open: no key, no limit
			}
			for s, r := range op.Responses {
				if r.Headers == nil {
					r.Headers = map[string]*huma.Header{}
				}
				if s != strconv.Itoa(http.StatusUnauthorized) {
					r.Headers["RateLimit"], r.Headers["RateLimit-Policy"] = ref("RateLimit"), ref("RateLimit-Policy")
				}
				if s == strconv.Itoa(http.StatusTooManyRequests) || s == strconv.Itoa(http.StatusServiceUnavailable) ||
					slices.Contains(Problems(op.OperationID, http.StatusConflict), CodeKeyInUse) && s == strconv.Itoa(http.StatusConflict) {
					r.Headers["Retry-After"] = ref("Retry-After")
				}
			}
		}
	}
}
