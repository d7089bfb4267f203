package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/avatar-api/avatar-api/apiclient"
	"github.com/avatar-api/avatar-api/internal/testkit"
)

// checkedDoer sends the generated client's requests and holds every
// answer against the committed document (kin-openapi's validator): its
// status must be documented for the operation, and its body must match
// the schema. A document that lies about an answer fails here, even
// where the client's lenient JSON decoding would not notice.
type checkedDoer struct {
	t      *testing.T
	router routers.Router
	seen   atomic.Int64
}

func newCheckedDoer(t *testing.T, serverURL string) *checkedDoer {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: serverURL}} // the committed one says localhost:8080
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &checkedDoer{t: t, router: router}
}

func (c *checkedDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s: not a route of the document: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		c.t.Errorf("%s %s answered %d, not as documented: %v\nbody: %.400s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	c.seen.Add(1)
	return resp, nil
}

func newClient(t *testing.T, doer *checkedDoer, server, key string) *apiclient.ClientWithResponses {
	t.Helper()
	c, err := apiclient.NewClientWithResponses(server, apiclient.WithHTTPClient(doer), apiclient.WithRequestEditorFn(
		func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// must fails the test unless the generated call succeeded with want.
func must(t *testing.T, what string, err error, status, want int, body []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if status != want {
		t.Fatalf("%s: %d, want %d: %s", what, status, want, body)
	}
}

// TestGeneratedClient: the Go client generated from the committed
// document (apiclient) drives a live server through a customer's and an
// operator's whole flow — keys, generate (and its idempotent retry),
// status, result and the download, list, usage, estimate, webhook
// secret, cancel, the errors — and every answer is checked against the
// document. A change of the API that the document does not follow fails
// here.
func TestGeneratedClient(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})
	ctx := t.Context()
	doer := newCheckedDoer(t, tb.url)
	admin := newClient(t, doer, tb.url, keyA)

	// The operator makes a customer's key.
	notes := "made by the generated client"
	made, err := admin.CreateKeyWithResponse(ctx, apiclient.CreateKeyInputBody{Customer: "client-co", Scopes: &[]string{"generate"}, Notes: &notes})
	must(t, "create key", err, made.StatusCode(), http.StatusCreated, made.Body)
	key, keyID := made.JSON201.Key, made.JSON201.Record.Id.String()
	if !strings.HasPrefix(key, "av_live_") {
		t.Fatalf("created key %q", key)
	}
	limit := int64(500)
	upd, err := admin.UpdateKeyWithResponse(ctx, keyID, apiclient.UpdateKeyInputBody{RateLimit: &limit})
	must(t, "update key", err, upd.StatusCode(), http.StatusOK, upd.Body)
	if upd.JSON200.RateLimit != limit {
		t.Errorf("updated rate limit %d, want %d", upd.JSON200.RateLimit, limit)
	}
	listed, err := admin.ListKeysWithResponse(ctx)
	must(t, "list keys", err, listed.StatusCode(), http.StatusOK, listed.Body)
	if !hasKey(*listed.JSON200.Keys, keyID) {
		t.Errorf("the new key %s is not listed", keyID)
	}
	shown, err := admin.ShowKeyWithResponse(ctx, keyID)
	must(t, "show key", err, shown.StatusCode(), http.StatusOK, shown.Body)

	// The customer, with that key.
	c := newClient(t, doer, tb.url, key)
	who, err := c.WhoamiWithResponse(ctx)
	must(t, "whoami", err, who.StatusCode(), http.StatusOK, who.Body)
	if who.JSON200.Customer != "client-co" || who.JSON200.RateLimit != limit {
		t.Errorf("whoami %+v", who.JSON200)
	}
	if r, err := c.ListKeysWithResponse(ctx); err != nil || r.ApplicationproblemJSON403 == nil || r.ApplicationproblemJSON403.Code != "forbidden" {
		t.Errorf("a customer's key listing keys: %v %s", err, r.Body)
	}

	body, ct := testkit.Multipart(t, part{Name: "image", File: fixture("astronaut.png")}, part{Name: "audio", File: fixture("speech_en_4s.wav")},
		part{Name: "prompt", Value: "A woman singing"})
	est, err := c.EstimateWithBodyWithResponse(ctx, &apiclient.EstimateParams{}, ct, bytes.NewReader(body))
	must(t, "estimate", err, est.StatusCode(), http.StatusOK, est.Body)
	if est.JSON200.VideoSeconds <= 0 {
		t.Errorf("estimate %+v", est.JSON200)
	}
	idem := "client-test-1"
	gen, err := c.GenerateWithBodyWithResponse(ctx, &apiclient.GenerateParams{IdempotencyKey: &idem}, ct, bytes.NewReader(body))
	must(t, "generate", err, gen.StatusCode(), http.StatusAccepted, gen.Body)
	id := gen.JSON202.JobId.String()
	again, err := c.GenerateWithBodyWithResponse(ctx, &apiclient.GenerateParams{IdempotencyKey: &idem}, ct, bytes.NewReader(body))
	must(t, "generate again", err, again.StatusCode(), http.StatusAccepted, again.Body)
	if again.JSON202.JobId.String() != id || again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retried generate made job %s (replayed %q), want %s", again.JSON202.JobId, again.HTTPResponse.Header.Get("Idempotent-Replayed"), id)
	}

	tb.waitFor(t, key, id, "completed", "failed")
	st, err := c.StatusWithResponse(ctx, id)
	must(t, "status", err, st.StatusCode(), http.StatusOK, st.Body)
	if job := st.JSON200; job.State != "completed" || job.Progress != 1 {
		t.Fatalf("job %s: %s, progress %v, error %+v", id, job.State, job.Progress, job.Error)
	}
	res, err := c.ResultWithResponse(ctx, id)
	must(t, "result", err, res.StatusCode(), http.StatusOK, res.Body)
	video := download(t, res.JSON200.Url)
	if int64(len(video)) != res.JSON200.SizeBytes || !bytes.Equal(video[4:8], []byte("ftyp")) {
		t.Errorf("downloaded %d bytes (documented %d), not an MP4", len(video), res.JSON200.SizeBytes)
	}
	// The same link as the documented operation: its path and query.
	link, err := url.Parse(res.JSON200.Url)
	if err != nil {
		t.Fatal(err)
	}
	q, name := link.Query(), link.Query().Get("filename")
	dl, err := c.DownloadWithResponse(ctx, strings.TrimPrefix(link.Path, "/files/"), &apiclient.DownloadParams{Expires: q.Get("expires"), Sig: q.Get("sig"), Filename: &name})
	must(t, "download", err, dl.StatusCode(), http.StatusOK, nil)
	if !bytes.Equal(dl.Body, video) {
		t.Errorf("the client's download differs from the link's (%d bytes)", len(dl.Body))
	}
	forged := q.Get("sig")[:10] + "0000000000" + q.Get("sig")[20:]
	if bad, err := c.DownloadWithResponse(ctx, strings.TrimPrefix(link.Path, "/files/"), &apiclient.DownloadParams{Expires: q.Get("expires"), Sig: forged, Filename: &name}); err != nil || bad.ApplicationproblemJSON403 == nil || bad.ApplicationproblemJSON403.Code != "invalid_signature" {
		t.Errorf("a forged signature: %v %d", err, bad.StatusCode())
	}

	limit20 := int64(20)
	page, err := c.ListJobsWithResponse(ctx, &apiclient.ListJobsParams{Limit: &limit20})
	must(t, "list jobs", err, page.StatusCode(), http.StatusOK, page.Body)
	if jobs := *page.JSON200.Jobs; len(jobs) != 1 || jobs[0].JobId.String() != id {
		t.Errorf("listed %+v, want job %s alone", jobs, id)
	}
	day := "day"
	use, err := c.UsageWithResponse(ctx, &apiclient.UsageParams{Granularity: (*apiclient.UsageParamsGranularity)(&day)})
	must(t, "usage", err, use.StatusCode(), http.StatusOK, use.Body)
	if use.JSON200.Total.Completed != 1 {
		t.Errorf("usage total %+v, want 1 completed job", use.JSON200.Total)
	}
	grace := int64(0)
	sec, err := c.RotateWebhookSecretWithResponse(ctx, apiclient.SecretInputBody{GraceSeconds: &grace})
	must(t, "webhook secret", err, sec.StatusCode(), http.StatusCreated, sec.Body)
	if !strings.HasPrefix(sec.JSON201.Secret, "whsec_") {
		t.Errorf("webhook secret %q", sec.JSON201.Secret)
	}
	hooks, err := c.JobWebhooksWithResponse(ctx, id)
	must(t, "job webhooks", err, hooks.StatusCode(), http.StatusOK, hooks.Body)

	// Cancelling: a finished job cannot be; the errors are typed.
	cancel, err := c.CancelWithResponse(ctx, id)
	if err != nil || cancel.ApplicationproblemJSON409 == nil {
		t.Errorf("cancel of a completed job: %v %d %s", err, cancel.StatusCode(), cancel.Body)
	}
	other := "0193a8e2-c4f3-7c2a-9b1d-5e6f7a8b9c0d"
	if st, err := c.StatusWithResponse(ctx, other); err != nil || st.ApplicationproblemJSON404 == nil || st.ApplicationproblemJSON404.Code != "not_found" {
		t.Errorf("status of no job of ours: %v %s", err, st.Body)
	}

	// The operator rotates the key, then revokes the new one.
	grace0 := "0s"
	rot, err := admin.RotateKeyWithResponse(ctx, keyID, apiclient.RotateKeyInputBody{Grace: &grace0})
	must(t, "rotate key", err, rot.StatusCode(), http.StatusCreated, rot.Body)
	rev, err := admin.RevokeKeyWithResponse(ctx, rot.JSON201.Record.Id.String())
	must(t, "revoke key", err, rev.StatusCode(), http.StatusOK, rev.Body)
	if r, err := newClient(t, doer, tb.url, rot.JSON201.Key).WhoamiWithResponse(ctx); err != nil || r.ApplicationproblemJSON401 == nil {
		t.Errorf("a revoked key: %v %s", err, r.Body)
	}

	// A queued job (a server with no workers) is cancelled.
	idle := setup(t, options{noWorkers: true})
	ic := newClient(t, newCheckedDoer(t, idle.url), idle.url, keyA)
	queued, err := ic.GenerateWithBodyWithResponse(ctx, &apiclient.GenerateParams{}, ct, bytes.NewReader(body))
	must(t, "generate (idle server)", err, queued.StatusCode(), http.StatusAccepted, queued.Body)
	cancelled, err := ic.CancelWithResponse(ctx, queued.JSON202.JobId.String())
	must(t, "cancel", err, cancelled.StatusCode(), http.StatusOK, cancelled.Body)
	if cancelled.JSON200.State != "cancelled" {
		t.Errorf("cancelled job is %s", cancelled.JSON200.State)
	}
	if doer.seen.Load() < 20 {
		t.Errorf("only %d answers were checked against the document", doer.seen.Load())
	}
}

func hasKey(keys []apiclient.Key, id string) bool {
	for _, k := range keys {
		if k.Id.String() == id {
			return true
		}
	}
	return false
}

// download fetches a signed link (no key: the link is the credential).
func download(t *testing.T, link string) []byte {
	t.Helper()
	if _, err := url.Parse(link); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %v %d", err, resp.StatusCode)
	}
	return b
}
