package sqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/store"
)

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (*store.Job, error) {
	var (
		j                     store.Job
		audioMS, resultMS     int64
		runMS, billedMS       int64
		remoteDelayMS         int64
		created, updated      timeValue
		started, finished, ex timeValue
		runStarted, deadline  timeValue
		events                string
	)
	err := row.Scan(&j.ID, &j.Owner, &j.IdempotencyKey, &j.Fingerprint, &j.RequestID, &j.State, &j.Progress,
		&j.Attempt, &j.Prompt, &j.ImageKey, &j.AudioKey, &j.Width, &j.Height, &j.FPS, &j.Seed, &j.FaceFallback, &audioMS,
		&j.ErrorCode, &j.ErrorMessage, &j.ResultKey, &j.ResultBytes, &resultMS,
		&created, &updated, &started, &finished, &ex, &j.Backend, &j.Queue,
		&j.Worker, &runStarted, &runMS, &billedMS, &j.Cost, &j.Price, &j.RemoteID, &j.RemoteOutput, &remoteDelayMS, &deadline,
		&j.WebhookURL, &j.WebhookDisplay, &events)
	if err != nil {
		return nil, err
	}
	j.AudioDuration = time.Duration(audioMS) * time.Millisecond
	j.ResultDuration = time.Duration(resultMS) * time.Millisecond
	j.CreatedAt, j.UpdatedAt = created.t, updated.t
	j.StartedAt, j.FinishedAt, j.ExpiresAt = started.ptr(), finished.ptr(), ex.ptr()
	j.RunStartedAt, j.QueueDeadline = runStarted.ptr(), deadline.ptr()
	j.RunTime, j.Billed = time.Duration(runMS)*time.Millisecond, time.Duration(billedMS)*time.Millisecond
	j.RemoteDelay = time.Duration(remoteDelayMS) * time.Millisecond
	if events != "" {
		j.WebhookEvents = strings.Split(events, ",")
	}
	return &j, nil
}

// timeValue scans a timestamp stored either as a native time (PostgreSQL)
// or as Unix microseconds (SQLite), or NULL.
type timeValue struct {
	t     time.Time
	valid bool
}

func (v *timeValue) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		v.valid = false
	case time.Time:
		v.t, v.valid = x.UTC(), true
	case int64:
		v.t, v.valid = time.UnixMicro(x).UTC(), true
	default:
		return fmt.Errorf("unexpected time value of type %T", src)
	}
	return nil
}

func (v timeValue) ptr() *time.Time {
	if !v.valid {
		return nil
	}
	t := v.t
	return &t
}
