package api

import (
	"context"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/avatar-api/avatar-api/internal/job"
)

// EstimateBasis says how an estimate was made.
type EstimateBasis struct {
	Method   string  `json:"method" enum:"recent,default" doc:"recent: from this backend's recent completed jobs; default: too few of them (fewer than 5 in 7 days), the documented default rate"`
	Jobs     int     `json:"jobs" doc:"The recent jobs read (0 with the default)"`
	SameSize bool    `json:"same_size" doc:"Whether those jobs all had this request's width, height and fps (else jobs of any size were read)"`
	PerVideo float64 `json:"billed_seconds_per_video_second" doc:"The rate applied: the median over those jobs of billed seconds per second of video"`
}

// Estimate is what a job of these inputs would be billed, were it made now.
type Estimate struct {
	VideoSeconds  float64       `json:"video_seconds" doc:"The audio's length, and so the video's"`
	BilledSeconds float64       `json:"billed_seconds" doc:"The generation time expected to be billed"`
	PricePerSec   float64       `json:"price_per_second_usd" doc:"The backend's price of a billed second"`
	CostUSD       float64       `json:"cost_usd" doc:"billed_seconds at price_per_second_usd"`
	Width         int           `json:"width"`
	Height        int           `json:"height"`
	FPS           int           `json:"fps"`
	Basis         EstimateBasis `json:"basis"`
}

type estimateOutput struct{ Body Estimate }

func opEstimate() huma.Operation {
	return huma.Operation{
		OperationID: "estimate",
		Summary:     "Estimate a job's cost",
		Description: "Takes the same multipart body as POST /generate and checks it the same way, with the same errors, but makes no job: it answers the video's length and the billed seconds and cost to expect, from this backend's recent jobs. Counts against the hourly rate limit, like POST /generate: its checks are a generation's costly first part.",
		Tags:        []string{"Jobs"},
		Errors:      []int{400, 408, 413, 415, 422, 503},
	}
}

// uploadForm registers an operation that reads a POST /generate body
// itself, and documents that body (see generateBody).
func uploadForm(register func(router, route)) func(router, route) {
	return func(rt router, r route) {
		register(rt, r)
		if p := rt.h.OpenAPI().Paths[r.path]; p != nil && p.Post != nil {
			p.Post.RequestBody = generateBody()
		}
	}
}

func (a *api) estimate(ctx context.Context, in *generateInput) (*estimateOutput, error) {
	release, err := a.slots.acquire(ctx, owner(ctx), a.Uploads.SlotWait)
	if err != nil {
		return nil, err
	}
	defer release()
	up, err := parseUpload(in.w, in.req, a.UploadDir, a.Uploads)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	sub, err := submissionOf(up)
	if err != nil {
		return nil, err
	}
	sub.Owner, sub.KeyID = owner(ctx), identity(ctx).KeyID
	e, err := a.Jobs.Estimate(ctx, sub)
	if err != nil {
		return nil, err
	}
	return &estimateOutput{Body: Estimate{
		VideoSeconds: millis(e.Video), BilledSeconds: millis(e.Billed),
		PricePerSec: e.Price.USD(), CostUSD: e.Cost.USD(), Width: e.Width, Height: e.Height, FPS: e.FPS,
		Basis: EstimateBasis{Method: e.Basis, Jobs: e.Runs, SameSize: e.SameSize, PerVideo: e.PerVideo},
	}}, nil
}

// submissionOf is an upload's files and options, read as POST /generate
// reads them.
func submissionOf(up *upload) (job.Submission, error) {
	sub := job.Submission{ImagePath: up.imagePath, AudioPath: up.audioPath, Dir: up.dir, Prompt: up.fields["prompt"],
		Fingerprint: up.fingerprint}
	var err error
	for name, dst := range map[string]*int{"width": &sub.Width, "height": &sub.Height, "fps": &sub.FPS} {
		if *dst, err = up.intField(name); err != nil {
			return sub, err
		}
	}
	seed, err := up.intField("seed")
	if err != nil {
		return sub, err
	}
	sub.Seed = int64(seed)
	if sub.FaceFallback, err = up.boolField("face_fallback"); err != nil {
		return sub, err
	}
	maxQueue, err := up.intField("max_queue_seconds")
	if err != nil {
		return sub, err
	}
	sub.MaxQueue = time.Duration(maxQueue) * time.Second
	sub.WebhookURL = up.fields["webhook_url"]
	if e := up.fields["webhook_events"]; e != "" {
		sub.WebhookEvents = []string{e}
	}
	return sub, nil
}
