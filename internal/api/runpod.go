package api

import (
	"io"
	"net/http"

	"github.com/avatar-api/avatar-api/internal/problem"
)

// maxWebhookBody bounds what is read of a webhook's body: RunPod posts the
// job's status, a few kilobytes; the body is drained, not used.
const maxWebhookBody = 64 << 10

// runpodWebhook takes RunPod's call that a job ended. The path carries our
// job id and its token (dispatch.Token); RunPod does not sign webhooks, so
// the token is the credential and the body is never trusted: the job's
// follower asks RunPod for the status itself. A wrong token or no RunPod
// backend is a 404, as for any path that does not exist.
func (a *api) runpodWebhook(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxWebhookBody))
	if a.RunPod == nil || !a.RunPod.Poke(r.PathValue("job_id"), r.PathValue("token")) {
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.CodeNotFound, "no such endpoint; see /openapi.json"))
		return
	}
	w.WriteHeader(http.StatusOK) // RunPod retries unless it gets a 200
}
