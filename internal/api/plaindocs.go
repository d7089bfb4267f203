package api

import (
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// Routes answered by plain handlers (Prometheus's, the file server, the
// document itself) that clients call are documented like operations:
// documented registers the handler as plain does and adds its operation to
// the OpenAPI document, with the security, errors and rate-limit fields
// of the route's access. Pages for a browser (the dashboard, /docs) and
// the service's own callbacks (a worker's upload, RunPod's webhook) are
// not part of the API and stay out.

// The codes of the file server of local storage (storage/local, which the
// HTTP layer does not import): the problems of a signed link.
const (
	codeInvalidSignature = "invalid_signature"
	codeLinkExpired      = "link_expired"
)

// documented is plain, and op in the document. The document is the same
// whatever the server is built with: a route whose part this server has
// not (no metrics; S3 storage, whose links are the bucket's) is in it all
// the same, and answers 404 here.
func documented(handler http.Handler, op huma.Operation) func(router, route) {
	return func(rt router, r route) {
		plain(handler)(rt, r)
		op.Method = r.method
		if op.Path == "" {
			op.Path = r.path
		}
		op.Errors = append(op.Errors, http.StatusInternalServerError)
		documentAccess(&op, r)
		for _, status := range op.Errors {
			op.Responses[strconv.Itoa(status)] = problemResponse(status)
		}
		rt.h.OpenAPI().AddOperation(&op)
	}
}

func problemResponse(status int) *huma.Response {
	return &huma.Response{Description: http.StatusText(status), Content: map[string]*huma.MediaType{
		problem.ContentType: {Schema: &huma.Schema{Ref: "#/components/schemas/Problem"}},
	}}
}

func opMetrics() huma.Operation {
	return huma.Operation{
		OperationID: "metrics", Tags: []string{"Monitoring"}, Summary: "Prometheus metrics",
		Description: "The service's metrics in Prometheus's text format (see docs/monitoring.md): jobs, queue, generation time, cost, requests, webhooks, workers. " +
			"Readable with an admin key, or with the `METRICS_TOKEN` a Prometheus server is given (as the bearer token): that token reads this and nothing else.",
		Responses: map[string]*huma.Response{"200": {Description: "The metrics", Content: map[string]*huma.MediaType{
			"text/plain; version=0.0.4": {Schema: &huma.Schema{Type: "string"},
				Example: "# HELP avatar_jobs_submitted_total Jobs accepted.\n# TYPE avatar_jobs_submitted_total counter\navatar_jobs_submitted_total 1289\n"},
		}}},
	}
}

// downloadParams are the parameters of a signed link: use the URL as
// GET /result gives it.
func downloadParams() []*huma.Param {
	str := func(desc string, ex any) *huma.Schema {
		return &huma.Schema{Type: "string", Description: desc, Examples: []any{ex}}
	}
	return []*huma.Param{
		{Name: "key", In: "path", Required: true, Description: "The stored video's name, slashes included (e.g. `results/0193a8e2-…-1.mp4`): part of the URL GET /result gives",
			Schema: str("The stored video's name", "results/0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d-1.mp4")},
		{Name: "expires", In: "query", Required: true, Description: "When the link stops working (Unix seconds)", Schema: str("Unix seconds", "1764757821")},
		{Name: "filename", In: "query", Description: "The name a browser saves the file under", Schema: str("A file name", "avatar-0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d.mp4")},
		{Name: "sig", In: "query", Required: true, Description: "The link's signature: the link is its own credential",
			Schema: str("Hex HMAC-SHA256", "9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a")},
		{Name: "Range", In: "header", Description: "A byte range, to resume a download (206)", Schema: str("A byte range", "bytes=0-1023")},
	}
}

func opDownload(method string) huma.Operation {
	id, summary := "download", "Download a video"
	if method == http.MethodHead {
		id, summary = "download-head", "A video's size, without it"
	}
	video := map[string]*huma.MediaType{"video/mp4": {Schema: &huma.Schema{Type: "string", Format: "binary"}, Example: "(the MP4's bytes)"}}
	return huma.Operation{
		OperationID: id, Tags: []string{"Jobs"}, Summary: summary, Path: "/files/{key}",
		Description: "The video behind a signed download URL of GET /result (local storage; with S3 storage the URL is the bucket's). " +
			"Needs no key: the signature is the credential, until `expires` (the result's `url_expires_at`). Ranges are served (206), so a download can resume.",
		Parameters: downloadParams(),
		Errors:     []int{http.StatusForbidden, http.StatusNotFound, http.StatusGone},
		Responses: map[string]*huma.Response{
			"200": {Description: "The MP4", Content: video},
			"206": {Description: "The range asked for", Content: video},
		},
	}
}

func opRoot() huma.Operation {
	return huma.Operation{
		OperationID: "root", Tags: []string{"Operations"}, Summary: "Where the documentation is", Path: "/",
		Description: "A browser (`Accept: text/html`) is sent to /docs; a program gets the API's name, version and where its documentation is.",
		Responses: map[string]*huma.Response{
			"200": {Description: "Where the documentation is", Content: map[string]*huma.MediaType{"application/json": {
				Schema: &huma.Schema{Type: "object", Required: []string{"name", "version", "docs", "openapi"}, Properties: map[string]*huma.Schema{
					"name": {Type: "string"}, "version": {Type: "string"}, "docs": {Type: "string"}, "openapi": {Type: "string"},
				}},
				Example: map[string]any{"name": "Avatar API", "version": Version, "docs": "https://avatar.example.com/docs", "openapi": "https://avatar.example.com/openapi.json"},
			}}},
			"302": {Description: "To /docs (a browser)", Headers: map[string]*huma.Header{"Location": {Schema: &huma.Schema{Type: "string", Examples: []any{"/docs"}}}}},
		},
	}
}

func opSpec(id, summary, contentType string) huma.Operation {
	return huma.Operation{
		OperationID: id, Tags: []string{"Operations"}, Summary: summary,
		Description: "This document. The 3.0 forms are the same API for tools that do not read OpenAPI 3.1.",
		Responses: map[string]*huma.Response{"200": {Description: "The document", Content: map[string]*huma.MediaType{
			contentType: {Schema: &huma.Schema{Type: "object"}, Example: map[string]any{"openapi": "3.1.0", "info": map[string]any{"title": "Avatar API", "version": Version}}},
		}}},
	}
}
