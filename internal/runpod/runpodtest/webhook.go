package runpodtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// webhookAttempts is RunPod's: the call, then "up to 2 more times"
// (docs: send-requests, "Webhook notifications").
const webhookAttempts = 3

// Delivery is one webhook attempt.
type Delivery struct {
	JobID   string
	URL     string
	Attempt int             // 1 to 3
	Status  int             // what the receiver answered; 0 if it could not be reached
	Time    time.Time       // when the attempt was made, by Options.Now
	Body    json.RawMessage // the job's status body
}

// Webhooks returns every webhook attempt made so far, in order.
func (s *Server) Webhooks() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.hooks))
	for i, d := range s.hooks {
		d.Body = bytes.Clone(d.Body)
		out[i] = d
	}
	return out
}

// hookLocked sends an ended job's status body to its webhook, unsigned,
// in the background: a receiver that does not answer 2xx is tried again
// after WebhookRetryDelay, three attempts in all. RunPod asks for a 200;
// any 2xx is taken as received.
func (s *Server) hookLocked(r *Record) {
	if r.Webhook == "" || s.closed {
		return
	}
	if s.drop > 0 {
		s.drop--
		return
	}
	body, _ := json.Marshal(newStatusBody(r))
	s.wg.Add(1)
	go s.deliver(r.ID, r.Webhook, body)
}

func (s *Server) deliver(id, url string, body []byte) {
	defer s.wg.Done()
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		status := s.post(url, body)
		if s.ctx.Err() != nil {
			return // closed: the attempt was cut short, not answered
		}
		s.mu.Lock()
		s.hooks = append(s.hooks, Delivery{
			JobID: id, URL: url, Attempt: attempt, Status: status,
			Time: s.opts.Now(), Body: body,
		})
		s.mu.Unlock()
		if status >= 200 && status < 300 || attempt == webhookAttempts {
			return
		}
		t := time.NewTimer(s.opts.WebhookRetryDelay)
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// post makes one attempt and returns the status answered, 0 if none.
func (s *Server) post(url string, body []byte) int {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hook.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode
}
