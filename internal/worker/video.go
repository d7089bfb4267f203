package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/avatar-api/avatar-api/internal/generator"
	"github.com/avatar-api/avatar-api/internal/media"
	"github.com/avatar-api/avatar-api/internal/storage"
	"github.com/avatar-api/avatar-api/internal/store"
)

// resultKey is where attempt's video of j is kept: one key per attempt,
// so that an attempt wrongly taken for dead that finishes late does not
// overwrite, nor on its conflict delete, its successor's video.
func resultKey(j *store.Job) string { return fmt.Sprintf("results/%s-%d.mp4", j.ID, j.Attempt) }

// storeVideo puts the video in storage under key and returns its size.
// The worker uploads OutputPath itself unless the generator reports having
// PUT the video to a staging key (the output's, or an adopted run's:
// Result.UploadedKey); then the staged object is checked — not empty,
// within the bound S3 cannot enforce, then, copied here, an MP4 with H.264
// and AAC as long as the audio (Deps.Videos) — stored under key, exactly
// the bytes checked, and deleted, whatever the outcome. The staging URL
// stays valid until the attempt's deadline, but nothing written to it
// later reaches the result.
func (w *generateWorker) storeVideo(ctx context.Context, j *store.Job, req generator.Request, gres generator.Result, dir, key string, duration *time.Duration) (int64, error) {
	if !gres.Uploaded {
		if err := storage.PutFile(ctx, w.deps.Storage, key, req.OutputPath, "video/mp4"); err != nil {
			return 0, storageDown(err, req.OutputPath)
		}
		return gres.Size, nil
	}
	staged := cmp.Or(gres.UploadedKey, req.Remote.Output.Key)
	limit := req.Remote.Output.MaxBytes
	st := w.deps.Storage
	defer func() {
		// Kept when this process is stopping: the next attempt follows
		// the same run and finds its video here.
		if ctx.Err() == nil {
			_ = st.Delete(context.WithoutCancel(ctx), staged)
		}
	}()
	n, err := st.Size(ctx, staged)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return 0, invalidVideo(fmt.Errorf("the generator reported uploading the video, but storage has none at %s", staged))
	case err != nil:
		return 0, fmt.Errorf("checking the uploaded video: %w", err)
	case n == 0:
		return 0, invalidVideo(errors.New("the uploaded video is empty"))
	case n > limit:
		return 0, invalidVideo(fmt.Errorf("the uploaded video is %d bytes, more than the %d allowed", n, limit))
	}
	local := filepath.Join(dir, "uploaded.mp4")
	if n, err = fetchAtMost(ctx, st, staged, local, limit); err != nil {
		return 0, err
	}
	if w.deps.Videos == nil {
		return 0, errors.New("no video checker: an uploaded video cannot be accepted")
	}
	facts, err := w.deps.Videos.CheckVideo(ctx, local, media.VideoWant{Audio: j.AudioDuration, Width: j.Width, Height: j.Height})
	if err != nil {
		if ctx.Err() != nil {
			return 0, err // stopping, not refused
		}
		return 0, invalidVideo(err)
	}
	if err := storage.PutFile(ctx, st, key, local, "video/mp4"); err != nil {
		return 0, fmt.Errorf("storing the uploaded video: %w", storageDown(err, local))
	}
	*duration = facts.Duration // what ffprobe measured, not what the generator said
	return n, nil
}

// fetchAtMost copies the object at key to path, refusing more than limit
// bytes: the staging URL may be PUT again after its size was read.
func fetchAtMost(ctx context.Context, st storage.Storage, key, path string, limit int64) (int64, error) {
	r, err := st.Open(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("reading the uploaded video: %w", err)
	}
	defer r.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("copying the uploaded video: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("copying the uploaded video: %w", err)
	case n > limit:
		return 0, invalidVideo(fmt.Errorf("the uploaded video grew past the %d bytes allowed", limit))
	}
	return n, nil
}

// invalidVideo is the failure of a generator whose video is refused. It is
// retried (an upload cut short, a worker's bad run), and once the
// attempts are used up the job fails with invalid_video.
func invalidVideo(err error) error {
	return &generator.Failure{Code: media.CodeInvalidVideo, Retryable: true, Err: err,
		Message: "the generated video was not a valid MP4 of the expected length; the error was logged"}
}

// Bounds of a video a generator uploads itself (maxVideoBytes). They stop
// a runaway or hostile upload from filling storage, not a large video: at
// one bit per pixel and frame, a 1080p video at 30 fps may run at 62 Mbit/s,
// several times what H.264 needs for a talking head at any quality.
const (
	videoBitsPerPixel   = 1
	audioBytesPerSecond = 64 << 10 // 512 kbit/s, more than any AAC stream we make
	containerBytes      = 1 << 20  // MP4 boxes and index
	// unknownDuration stands for the audio's length for jobs accepted
	// before it was recorded: twice media's default limit.
	unknownDuration = 10 * time.Minute
)

// maxVideoBytes is the largest video accepted for j: its frames at
// videoBitsPerPixel, its sound at audioBytesPerSecond, for its audio's
// length rounded up plus a second, and containerBytes.
func maxVideoBytes(j *store.Job) int64 {
	d := j.AudioDuration
	if d <= 0 {
		d = unknownDuration
	}
	seconds := int64(d/time.Second) + 2
	perSecond := int64(j.Width)*int64(j.Height)*int64(j.FPS)*videoBitsPerPixel/8 + audioBytesPerSecond
	return containerBytes + seconds*perSecond
}
