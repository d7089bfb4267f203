package runpodtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// The REST API v2's serverless endpoint, GET and PATCH /v2/serverless/{id}
// on the REST host (RESTURL). Sources (read December 2026):
//
//   - docs.runpod.io/api-reference-v2/migrate-from-v1: the base
//     https://api.runpod.io/v2, v1's /endpoints now /v2/serverless with a
//     generic {id}, PATCH /v2/serverless/{id} for updates, worker and
//     scaling settings nested under "workers" and "scaling", errors as RFC
//     9457 problems ({"title", "status", "detail"}, optional "errors").
//   - docs.runpod.io/api-reference-v2/serverless/get-a-serverless-endpoint
//     and .../update-a-serverless-endpoint, generated from the v2 OpenAPI
//     schema (api.runpod.io/v2/openapi.json; read as published in
//     github.com/runpod/docs, api-reference-v2/openapi.json, "Frontdoor
//     v2.9.0", 2026-08-18): operations getEndpoint and updateEndpoint
//     ("only the fields present in the body are changed"), schemas
//     Endpoint, UpdateEndpointRequest ("unevaluatedProperties": false),
//     EndpointWorkers ({min, max, idleTimeout}, no other property),
//     EndpointScaling ({type: QUEUE_DELAY, queueDelay} or {type:
//     REQUEST_COUNT, requestCount}), ErrorResponse; responses 400 ("conflicts
//     with request rules") and 422 ("failed validation").
//   - RunPod's own migration notes (github.com/runpod/runpod-plugins-official,
//     skills/runpod-migrate/reference/breaking-changes.md): an unknown
//     field is a 422 naming it ("$: additional properties 'dataCenterId'
//     not allowed"); idleTimeout on a queue endpoint scaling on
//     requestCount is a 422.
//
// Left open by them, and chosen here: whether a PATCH's "workers" merges
// into the endpoint's or replaces it (merged, as the operation's "omitted
// fields are left untouched" reads); the status of workers.min above
// workers.max (400, a request rule); the bounds of timeout (5 s to 7 days,
// those of a job's executionTimeout).

// endpoint is the REST API v2's Endpoint as the double keeps it. Fields it
// does not model (the container, GPU, network volumes, FlashBoot) keep the
// values newEndpoint gives them.
type endpoint struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	RequestURLs    map[string]string `json:"requestUrls"`
	Image          string            `json:"image"`
	Args           string            `json:"args"`
	Disk           int               `json:"disk"`
	Ports          []string          `json:"ports"`
	Env            map[string]string `json:"env"`
	Registry       *string           `json:"registry"`
	GPU            gpuConfig         `json:"gpu"`
	Workers        workers           `json:"workers"`
	Scaling        scaling           `json:"scaling"`
	DataCenterIDs  []string          `json:"dataCenterIds"`
	NetworkVolumes []string          `json:"networkVolumes"`
	Timeout        int64             `json:"timeout"` // ms, a job's executionTimeout unless its policy sets one
	Flashboot      string            `json:"flashboot"`
	CreatedAt      string            `json:"createdAt"`
}

type gpuConfig struct {
	Pools               []string `json:"pools"`
	Count               int      `json:"count"`
	AllowedCUDAVersions []string `json:"allowedCudaVersions"`
	MinCUDAVersion      *string  `json:"minCudaVersion"`
}

// workers is EndpointWorkers. IdleTimeout (s) is nil, and left out of
// answers, for a queue endpoint scaling on REQUEST_COUNT.
type workers struct {
	Min         int  `json:"min"`
	Max         int  `json:"max"`
	IdleTimeout *int `json:"idleTimeout,omitempty"`
}

// scaling is EndpointScaling: QueueDelay (s) with QUEUE_DELAY,
// RequestCount with REQUEST_COUNT.
type scaling struct {
	Type         string   `json:"type"`
	QueueDelay   *float64 `json:"queueDelay,omitempty"`
	RequestCount *int     `json:"requestCount,omitempty"`
}

const (
	queueDelay         = "QUEUE_DELAY"
	requestCount       = "REQUEST_COUNT"
	queueEndpoint      = "QUEUE"
	defaultIdleTimeout = 5 // s, RunPod's default idle timeout
)

// newEndpoint is the endpoint the double starts with: RunPod's defaults
// (docs.runpod.io/serverless/endpoints/endpoint-configurations: 0 active
// workers, 3 max, idle timeout 5 s, execution timeout 600 s) and the
// schema's examples for the rest.
func newEndpoint(id string) endpoint {
	idle, delay := defaultIdleTimeout, 4.0
	return endpoint{
		ID:             id,
		Name:           "avatar-test",
		Type:           queueEndpoint,
		Image:          "runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404",
		Disk:           20,
		Ports:          []string{},
		Env:            map[string]string{},
		GPU:            gpuConfig{Pools: []string{"ADA_24"}, Count: 1, AllowedCUDAVersions: []string{}},
		Workers:        workers{Min: 0, Max: 3, IdleTimeout: &idle},
		Scaling:        scaling{Type: queueDelay, QueueDelay: &delay},
		DataCenterIDs:  []string{"EU-RO-1"},
		NetworkVolumes: []string{},
		Timeout:        defaultExecutionTimeout.Milliseconds(),
		Flashboot:      "OFF",
		CreatedAt:      "2026-01-01T00:00:00Z",
	}
}

// answerLocked is e as GET and PATCH answer it, with its requestUrls on
// the job API's host.
func (s *Server) answerLocked(e endpoint) endpoint {
	base := s.hs.URL + "/v2/" + e.ID
	e.RequestURLs = map[string]string{
		"run": base + "/run", "runSync": base + "/runsync",
		"status": base + "/status/{job_id}", "stream": base + "/stream/{job_id}",
		"cancel": base + "/cancel/{job_id}", "retry": base + "/retry/{job_id}",
		"purgeQueue": base + "/purge-queue", "health": base + "/health",
	}
	return e
}

// restAuth checks a REST API request: route, Bearer key, endpoint.
func (s *Server) restAuth(w http.ResponseWriter, r *http.Request) bool {
	if s.injected(w, "endpoint") {
		return false
	}
	switch auth := r.Header.Get("Authorization"); {
	case !strings.HasPrefix(auth, "Bearer "):
		writeProblem(w, http.StatusUnauthorized, "missing bearer token")
		return false
	case auth != "Bearer "+s.opts.APIKey:
		writeProblem(w, http.StatusUnauthorized, "invalid bearer token")
		return false
	}
	if r.PathValue("id") != s.opts.EndpointID {
		writeProblem(w, http.StatusNotFound, "resource not found")
		return false
	}
	return true
}

// getEndpoint serves GET /v2/serverless/{id}.
func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request) {
	if !s.restAuth(w, r) {
		return
	}
	s.mu.Lock()
	e := s.answerLocked(s.endpoint)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, e)
}

// patchEndpoint serves PATCH /v2/serverless/{id}: what the body holds
// changes, the rest stays. A body off the schema is a 422 naming what is
// wrong; a field of the schema the double does not model is a 501, so
// that nothing a test sends is silently dropped.
func (s *Server) patchEndpoint(w http.ResponseWriter, r *http.Request) {
	if !s.restAuth(w, r) {
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body any
	if err := dec.Decode(&body); err != nil || dec.More() {
		writeProblem(w, http.StatusBadRequest, "body is not JSON")
		return
	}
	u, errs := parseUpdate(body)
	if len(errs) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "Request validation failed.", errs...)
		return
	}
	if len(u.unmodelled) > 0 {
		writeProblem(w, http.StatusNotImplemented, "the RunPod double does not model "+strings.Join(u.unmodelled, ", "))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoint
	if status, detail := u.apply(&e); status != 0 {
		writeProblem(w, status, detail)
		return
	}
	s.endpoint = e
	writeJSON(w, http.StatusOK, s.answerLocked(e))
}

// update is an UpdateEndpointRequest the double applies; nil is absent.
type update struct {
	name          *string
	workers       map[string]int // min, max, idleTimeout
	scaling       *scaling
	timeout       *int64
	dataCenterIDs []string // nil when absent
	unmodelled    []string // fields of the schema the double ignores
}

// updateFields are UpdateEndpointRequest's properties, its own and
// ContainerConfig's; true marks those the double applies.
var updateFields = map[string]bool{
	"name": true, "workers": true, "scaling": true, "timeout": true, "dataCenterIds": true,
	"image": false, "args": false, "disk": false, "ports": false, "env": false, "registry": false,
	"gpu": false, "cpu": false, "networkVolumes": false, "flashboot": false, "templateId": false,
}

// parseUpdate checks body against UpdateEndpointRequest and returns what
// it asks, or the schema's complaints.
func parseUpdate(body any) (update, []string) {
	var u update
	obj, ok := body.(map[string]any)
	if !ok {
		return u, []string{"$: want an object"}
	}
	var errs []string
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		modelled, known := updateFields[k]
		switch {
		case !known:
			errs = append(errs, fmt.Sprintf("$: additional properties '%s' not allowed", k))
		case !modelled:
			u.unmodelled = append(u.unmodelled, k)
		case k == "name":
			if s, ok := v.(string); ok && s != "" {
				u.name = &s
			} else {
				errs = append(errs, "$.name: want a string of 1 character or more")
			}
		case k == "timeout":
			if n, ok := integer(v); ok {
				u.timeout = &n
			} else {
				errs = append(errs, "$.timeout: want an integer")
			}
		case k == "dataCenterIds":
			u.dataCenterIDs, errs = parseStrings(v, "$.dataCenterIds", errs)
		case k == "workers":
			u.workers, errs = parseWorkers(v, errs)
		case k == "scaling":
			u.scaling, errs = parseScaling(v, errs)
		}
	}
	return u, errs
}

// parseWorkers checks an EndpointWorkers.
func parseWorkers(v any, errs []string) (map[string]int, []string) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, append(errs, "$.workers: want an object")
	}
	got := make(map[string]int)
	for _, k := range sortedKeys(obj) {
		n, isInt := integer(obj[k])
		var want string
		switch k {
		case "min", "max":
			if !isInt || n < 0 {
				want = "an integer, 0 or more"
			}
		case "idleTimeout":
			if !isInt || n < 1 || n > 3600 {
				want = "an integer from 1 to 3600"
			}
		default:
			errs = append(errs, fmt.Sprintf("$.workers: additional properties '%s' not allowed", k))
			continue
		}
		if want != "" {
			errs = append(errs, fmt.Sprintf("$.workers.%s: want %s", k, want))
			continue
		}
		got[k] = int(n)
	}
	return got, errs
}

// parseScaling checks an EndpointScaling, a union on its type.
func parseScaling(v any, errs []string) (*scaling, []string) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, append(errs, "$.scaling: want an object")
	}
	var sc scaling
	var value string
	switch obj["type"] {
	case queueDelay:
		value = "queueDelay"
		if f, ok := number(obj[value]); ok && f >= 0.5 {
			sc = scaling{Type: queueDelay, QueueDelay: &f}
		}
	case requestCount:
		value = "requestCount"
		if n, ok := integer(obj[value]); ok && n >= 1 {
			c := int(n)
			sc = scaling{Type: requestCount, RequestCount: &c}
		}
	default:
		return nil, append(errs, "$.scaling.type: want QUEUE_DELAY or REQUEST_COUNT")
	}
	for _, k := range sortedKeys(obj) {
		if k != "type" && k != value {
			errs = append(errs, fmt.Sprintf("$.scaling: additional properties '%s' not allowed", k))
		}
	}
	if sc.Type == "" {
		return nil, append(errs, fmt.Sprintf("$.scaling.%s: missing or out of range", value))
	}
	return &sc, errs
}

func parseStrings(v any, path string, errs []string) ([]string, []string) {
	list, ok := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, isStr := e.(string)
		ok = ok && isStr
		out = append(out, s)
	}
	if !ok {
		return nil, append(errs, path+": want an array of strings")
	}
	return out, errs
}

// apply changes e as u asks and checks the rules that join fields; a
// broken one is returned as a status and detail, e left half changed.
func (u update) apply(e *endpoint) (int, string) {
	if u.name != nil {
		e.Name = *u.name
	}
	if u.timeout != nil {
		e.Timeout = *u.timeout
	}
	if u.dataCenterIDs != nil {
		e.DataCenterIDs = u.dataCenterIDs
	}
	if n, ok := u.workers["min"]; ok {
		e.Workers.Min = n
	}
	if n, ok := u.workers["max"]; ok {
		e.Workers.Max = n
	}
	if u.scaling != nil {
		e.Scaling = *u.scaling
	}
	idle, setIdle := u.workers["idleTimeout"]
	noIdle := e.Type == queueEndpoint && e.Scaling.Type == requestCount
	switch {
	case noIdle && setIdle:
		return http.StatusUnprocessableEntity, "idleTimeout does not apply to queue-based endpoints scaling on requestCount"
	case noIdle:
		e.Workers.IdleTimeout = nil
	case setIdle:
		e.Workers.IdleTimeout = &idle
	case e.Workers.IdleTimeout == nil:
		// Back from REQUEST_COUNT: RunPod's default, the plausible reading.
		d := defaultIdleTimeout
		e.Workers.IdleTimeout = &d
	}
	if e.Workers.Min > e.Workers.Max {
		return http.StatusBadRequest, fmt.Sprintf("workers.min %d is above workers.max %d", e.Workers.Min, e.Workers.Max)
	}
	if e.Timeout < minExecutionTimeout.Milliseconds() || e.Timeout > maxPolicy.Milliseconds() {
		return http.StatusBadRequest, fmt.Sprintf("timeout must be %d to %d ms", minExecutionTimeout.Milliseconds(), maxPolicy.Milliseconds())
	}
	return 0, ""
}

// integer is v as an int64 if it is a JSON integer.
func integer(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// number is v as a float64 if it is a JSON number.
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
