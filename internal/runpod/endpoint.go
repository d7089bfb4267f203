package runpod

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// The endpoint's settings come from RunPod's REST API v2: GET and PATCH
// {RESTURL}/v2/serverless/{id} (docs.runpod.io/api-reference-v2/
// migrate-from-v1: v1's /endpoints is /v2/serverless, with a generic
// {id}; docs.runpod.io/api-reference-v2/serverless/get-a-serverless-endpoint
// and update-a-serverless-endpoint). The shapes are those of the v2
// OpenAPI schema (api.runpod.io/v2/openapi.json), read as published in
// github.com/runpod/docs (api-reference-v2/openapi.json, "Frontdoor
// v2.9.0", 2026-08-18): schemas Endpoint, UpdateEndpointRequest,
// EndpointWorkers and EndpointScaling. The guide's August 2026 text calls
// v2 beta, and its serverless shapes changed that month (idleTimeout
// moved from scaling to workers; scaling's "value" became queueDelay or
// requestCount): a later change to workers would show here as an answer
// without workers.min and workers.max, refused rather than read as 0.

// Endpoint is the endpoint's settings an operator reads. The container's
// env is left out on purpose: its values may be secrets, and
// `avatar-api runpod status --json` prints an Endpoint whole.
type Endpoint struct {
	ID, Name               string
	Type                   string // QUEUE or LOAD_BALANCER
	Image                  string
	WorkersMin, WorkersMax int
	// IdleTimeout is how long an idle worker is kept; 0 when RunPod
	// leaves it out, as v2 does for a queue endpoint scaling on
	// REQUEST_COUNT.
	IdleTimeout time.Duration
	// ScalerType is QUEUE_DELAY or REQUEST_COUNT; ScalerValue is its
	// threshold: the seconds a job may wait (queueDelay, fractions
	// allowed) or the requests per worker (requestCount).
	ScalerType         string
	ScalerValue        float64
	ExecutionTimeoutMS int64    // a job's, unless its policy sets one
	GPUPools           []string // pool ids such as ADA_24, not GPU types; none on a CPU endpoint
	GPUCount           int      // per worker
	DataCenterIDs      []string
}

// endpointBody is the fields read of the REST API v2's Endpoint. The
// schema requires workers.min and workers.max: pointers tell an answer
// without them (not the shape expected) from one of 0 workers.
type endpointBody struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Type  string `json:"type"`
	Image string `json:"image"`
	GPU   *struct {
		Pools []string `json:"pools"`
		Count int      `json:"count"`
	} `json:"gpu"`
	Workers struct {
		Min         *int `json:"min"`
		Max         *int `json:"max"`
		IdleTimeout int  `json:"idleTimeout"` // s
	} `json:"workers"`
	Scaling struct {
		Type         string  `json:"type"`
		QueueDelay   float64 `json:"queueDelay"` // s
		RequestCount int     `json:"requestCount"`
	} `json:"scaling"`
	DataCenterIDs []string `json:"dataCenterIds"`
	Timeout       int64    `json:"timeout"` // ms
}

func (b endpointBody) endpoint(op string) (Endpoint, error) {
	if b.ID == "" || b.Workers.Min == nil || b.Workers.Max == nil {
		return Endpoint{}, fmt.Errorf("runpod %s: the answer has no id, workers.min or workers.max: not the REST API v2's Endpoint", op)
	}
	e := Endpoint{
		ID: b.ID, Name: b.Name, Type: b.Type, Image: b.Image,
		WorkersMin: *b.Workers.Min, WorkersMax: *b.Workers.Max,
		IdleTimeout:        time.Duration(b.Workers.IdleTimeout) * time.Second,
		ScalerType:         b.Scaling.Type,
		ExecutionTimeoutMS: b.Timeout,
		DataCenterIDs:      b.DataCenterIDs,
	}
	switch b.Scaling.Type {
	case "QUEUE_DELAY":
		e.ScalerValue = b.Scaling.QueueDelay
	case "REQUEST_COUNT":
		e.ScalerValue = float64(b.Scaling.RequestCount)
	}
	if b.GPU != nil {
		e.GPUPools, e.GPUCount = b.GPU.Pools, b.GPU.Count
	}
	return e, nil
}

// Endpoint returns the endpoint's settings.
func (c *Client) Endpoint(ctx context.Context) (Endpoint, error) {
	const op = "get endpoint"
	var e endpointBody
	if err := c.do(ctx, request{op: op, method: http.MethodGet, url: c.endpoint}, &e); err != nil {
		return Endpoint{}, err
	}
	return e.endpoint(op)
}

// SetMaxWorkers sets the endpoint's workers.max, the most workers RunPod
// runs at once (0 stops new ones), and returns the endpoint as updated.
// The body is {"workers": {"max": n}} and nothing else: v2 rejects a
// field its schema lacks, naming it, and its PATCH changes only what the
// body holds (updateEndpoint: "omitted fields are left untouched").
// Whether that holds within "workers", keeping min and idleTimeout, the
// schema does not say outright; the operation's description and the
// optional properties of EndpointWorkers read so.
func (c *Client) SetMaxWorkers(ctx context.Context, n int) (Endpoint, error) {
	const op = "update endpoint"
	if n < 0 {
		return Endpoint{}, fmt.Errorf("runpod %s: workers.max %d is negative", op, n)
	}
	type workers struct {
		Max int `json:"max"`
	}
	b, err := json.Marshal(struct {
		Workers workers `json:"workers"`
	}{workers{Max: n}})
	if err != nil {
		return Endpoint{}, fmt.Errorf("runpod %s: %w", op, err)
	}
	var e endpointBody
	if err := c.do(ctx, request{op: op, method: http.MethodPatch, url: c.endpoint, body: b}, &e); err != nil {
		return Endpoint{}, err
	}
	return e.endpoint(op)
}
