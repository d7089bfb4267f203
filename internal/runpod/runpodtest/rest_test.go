package runpodtest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/avatar-api/avatar-api/internal/runpod/runpodtest"
)

// rest calls the REST API v2's endpoint with the API key.
func (b *bundle) rest(t *testing.T, method, body string) (int, []byte) {
	t.Helper()
	return call(t, method, b.s.RESTURL()+"/v2/serverless/"+b.s.Options().EndpointID, "Bearer "+b.s.Options().APIKey, body)
}

// endpoint GETs the endpoint, its fields left as JSON.
func (b *bundle) endpoint(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	code, body := b.rest(t, http.MethodGet, "")
	if code != http.StatusOK {
		t.Fatalf("GET answered %d %s", code, body)
	}
	var e map[string]json.RawMessage
	decode(t, body, &e)
	return e
}

// problem is an RFC 9457 problem, as the REST API v2 answers errors.
type problem struct {
	Title  string
	Status int
	Detail string
	Errors []string
}

func TestEndpointGet(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{EndpointID: "ep1", APIKey: "key"})
	e := b.endpoint(t)
	want := map[string]string{
		"id":            `"ep1"`,
		"type":          `"QUEUE"`,
		"workers":       `{"min": 0, "max": 3, "idleTimeout": 5}`,
		"scaling":       `{"type": "QUEUE_DELAY", "queueDelay": 4}`,
		"timeout":       `600000`,
		"gpu":           `{"pools": ["ADA_24"], "count": 1, "allowedCudaVersions": [], "minCudaVersion": null}`,
		"dataCenterIds": `["EU-RO-1"]`,
	}
	for k, v := range want {
		if !jsonEqual(e[k], []byte(v)) {
			t.Errorf("%s = %s, want %s", k, e[k], v)
		}
	}
	var urls map[string]string
	decode(t, e["requestUrls"], &urls)
	if urls["run"] != b.s.URL()+"/v2/ep1/run" || urls["status"] != b.s.URL()+"/v2/ep1/status/{job_id}" {
		t.Errorf("requestUrls = %v, want the job API's", urls)
	}
	for _, v1 := range []string{"workersMax", "workersMin", "executionTimeoutMs", "gpuTypeIds", "templateId", "version"} {
		if _, ok := e[v1]; ok {
			t.Errorf("the answer has REST v1's %q", v1)
		}
	}
}

func TestEndpointRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{EndpointID: "ep1", APIKey: "key"})
	tests := []struct {
		name, url, auth string
		want            int
	}{
		{"BareKey", b.s.RESTURL() + "/v2/serverless/ep1", "key", http.StatusUnauthorized},
		{"WrongKey", b.s.RESTURL() + "/v2/serverless/ep1", "Bearer nope", http.StatusUnauthorized},
		{"OtherEndpoint", b.s.RESTURL() + "/v2/serverless/ep2", "Bearer key", http.StatusNotFound},
		{"RetiredV1", b.s.RESTURL() + "/v1/endpoints/ep1", "Bearer key", http.StatusNotFound},
		{"JobAPIHost", b.s.URL() + "/v2/serverless/ep1", "Bearer key", http.StatusNotFound},
	}
	for _, tc := range tests {
		code, body := call(t, http.MethodGet, tc.url, tc.auth, "")
		if code != tc.want {
			t.Errorf("%s: answered %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	code, body := call(t, http.MethodGet, b.s.RESTURL()+"/v2/serverless/ep2", "Bearer key", "")
	var p problem
	decode(t, body, &p)
	if code != 404 || p.Status != 404 || p.Title != "Not Found" || p.Detail == "" {
		t.Errorf("404 answered %d %s, want a problem", code, body)
	}
	b.s.Fail("endpoint", http.StatusInternalServerError, 1)
	if code, _ := b.rest(t, http.MethodGet, ""); code != 500 {
		t.Errorf("GET with an injected failure answered %d", code)
	}
}

func TestEndpointPatch(t *testing.T) {
	t.Parallel()
	b := setup(t, runpodtest.Options{})
	code, body := b.rest(t, http.MethodPatch, `{"workers": {"max": 0}}`)
	var e map[string]json.RawMessage
	decode(t, body, &e)
	// Only max changes: min and idleTimeout stay.
	if code != 200 || !jsonEqual(e["workers"], []byte(`{"min": 0, "max": 0, "idleTimeout": 5}`)) || !jsonEqual(e["name"], []byte(`"avatar-test"`)) {
		t.Errorf("PATCH workers.max answered %d %s", code, body)
	}
	if !jsonEqual(mustJSON(t, b.endpoint(t)), body) {
		t.Error("GET after PATCH differs from PATCH's answer")
	}

	code, body = b.rest(t, http.MethodPatch, `{"name": "renamed", "timeout": 300000, "dataCenterIds": ["US-KS-2"],
		"workers": {"min": 1, "max": 4}, "scaling": {"type": "REQUEST_COUNT", "requestCount": 2}}`)
	decode(t, body, &e)
	// A queue endpoint scaling on requestCount has no idleTimeout.
	for k, v := range map[string]string{
		"name": `"renamed"`, "timeout": `300000`, "dataCenterIds": `["US-KS-2"]`,
		"workers": `{"min": 1, "max": 4}`, "scaling": `{"type": "REQUEST_COUNT", "requestCount": 2}`,
	} {
		if code != 200 || !jsonEqual(e[k], []byte(v)) {
			t.Errorf("PATCH answered %d; %s = %s, want %s", code, k, e[k], v)
		}
	}
	code, body = b.rest(t, http.MethodPatch, `{"workers": {"idleTimeout": 10}}`)
	if p := decodeProblem(t, body); code != 422 || !strings.Contains(p.Detail, "idleTimeout") {
		t.Errorf("idleTimeout with requestCount answered %d %s, want 422", code, body)
	}
	code, body = b.rest(t, http.MethodPatch, `{"scaling": {"type": "QUEUE_DELAY", "queueDelay": 0.5}}`)
	decode(t, body, &e)
	if code != 200 || !jsonEqual(e["workers"], []byte(`{"min": 1, "max": 4, "idleTimeout": 5}`)) || !jsonEqual(e["scaling"], []byte(`{"type": "QUEUE_DELAY", "queueDelay": 0.5}`)) {
		t.Errorf("back to QUEUE_DELAY answered %d %s", code, body)
	}
	if code, body := b.rest(t, http.MethodPatch, `{}`); code != 200 || !jsonEqual(mustJSON(t, b.endpoint(t)), body) {
		t.Errorf("an empty PATCH answered %d %s", code, body)
	}
}

func TestEndpointPatchRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		status     int
		want       string // in the detail or an error
	}{
		{"V1Field", `{"workersMax": 0}`, 422, "$: additional properties 'workersMax' not allowed"},
		{"UnknownWorkersField", `{"workers": {"max": 1, "maxWorkers": 2}}`, 422, "$.workers: additional properties 'maxWorkers' not allowed"},
		{"NegativeMax", `{"workers": {"max": -1}}`, 422, "$.workers.max"},
		{"StringMax", `{"workers": {"max": "2"}}`, 422, "$.workers.max"},
		{"FractionMax", `{"workers": {"max": 1.5}}`, 422, "$.workers.max"},
		{"ZeroIdle", `{"workers": {"idleTimeout": 0}}`, 422, "$.workers.idleTimeout"},
		{"WorkersNotObject", `{"workers": 2}`, 422, "$.workers"},
		{"ScalerMismatch", `{"scaling": {"type": "QUEUE_DELAY", "queueDelay": 2, "requestCount": 2}}`, 422, "$.scaling: additional properties 'requestCount' not allowed"},
		{"ScalerTooLow", `{"scaling": {"type": "QUEUE_DELAY", "queueDelay": 0.4}}`, 422, "$.scaling.queueDelay"},
		{"ScalerV1", `{"scalerType": "QUEUE_DELAY", "scalerValue": 4}`, 422, "'scalerType' not allowed"},
		{"UnknownScaler", `{"scaling": {"type": "LATENCY"}}`, 422, "$.scaling.type"},
		{"EmptyName", `{"name": ""}`, 422, "$.name"},
		{"NotObject", `[]`, 422, "$"},
		{"NotJSON", `{"workers":`, 400, "not JSON"},
		{"MinAboveMax", `{"workers": {"min": 4}}`, 400, "workers.min"},
		{"ShortTimeout", `{"timeout": 1000}`, 400, "timeout"},
		{"Unmodelled", `{"image": "x", "workers": {"max": 1}}`, 501, "image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, runpodtest.Options{})
			before := mustJSON(t, b.endpoint(t))
			code, body := b.rest(t, http.MethodPatch, tc.body)
			p := decodeProblem(t, body)
			if code != tc.status || p.Status != tc.status || !strings.Contains(p.Detail, tc.want) && !slices.ContainsFunc(p.Errors, func(e string) bool { return strings.Contains(e, tc.want) }) {
				t.Errorf("PATCH %s answered %d %s, want %d naming %q", tc.body, code, body, tc.status, tc.want)
			}
			if after := mustJSON(t, b.endpoint(t)); !jsonEqual(after, before) {
				t.Errorf("a refused PATCH changed the endpoint: %s", after)
			}
		})
	}
}

func decodeProblem(t *testing.T, body []byte) problem {
	t.Helper()
	var p problem
	decode(t, body, &p)
	return p
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
