package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-api/avatar-api/internal/stdwebhook"
)

// DefaultTimeout bounds one delivery attempt when no Timeout is set.
const DefaultTimeout = 10 * time.Second

// responseCap is how much of a webhook's answer is read: enough for an
// error message, no more.
const responseCap = 4 << 10

// Webhook posts alerts to one URL: Alertmanager's format, or Slack's for
// hooks.slack.com.
type Webhook struct {
	URL string
	// Secret is a Standard Webhooks secret, "whsec_" and base64; empty
	// sends unsigned requests.
	Secret string
	// HTTP is the client to use; nil means http.DefaultClient's transport.
	// Its redirect policy is replaced: redirects are never followed.
	HTTP *http.Client
	// Now gives the signature's timestamp; nil means time.Now.
	Now func() time.Time
	// ExternalURL is the payload's externalURL: the service's base URL.
	ExternalURL string
	// Timeout bounds the attempt, answer included; zero means
	// DefaultTimeout.
	Timeout time.Duration
}

// Send posts the alert once. id is the delivery's stable id, the same on
// every retry; it is the webhook-id header when the request is signed.
func (w *Webhook) Send(ctx context.Context, a Alert, id string) Delivery {
	start := time.Now()
	d := Delivery{Channel: "webhook"}
	status, err := w.send(ctx, a, id, &d)
	d.Status = status
	d.Err = err
	d.Latency = time.Since(start)
	return d
}

func (w *Webhook) send(ctx context.Context, a Alert, id string, d *Delivery) (int, error) {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse's error quotes the URL, whose path may be a secret.
		return 0, errors.New("webhook URL is not a valid http or https URL")
	}
	d.Target = u.Host
	if err := validate(a); err != nil {
		return 0, err
	}
	var payload any = alertmanagerPayload(a, w.ExternalURL)
	if isSlack(u) {
		payload = slackPayload(a)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("encode webhook payload: %w", err)
	}

	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("webhook URL is not a valid request URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "avatar-api-alert")
	if w.Secret != "" {
		now := time.Now
		if w.Now != nil {
			now = w.Now
		}
		h, err := SignHeaders(w.Secret, id, now(), body)
		if err != nil {
			return 0, err
		}
		for k, v := range h {
			req.Header[k] = v
		}
	}

	resp, err := w.client().Do(req)
	if err != nil {
		// A *url.Error quotes the whole URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("post alert to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, responseCap))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("post alert to %s: status %d %s", u.Host, resp.StatusCode, snippet(answer))
	}
	return resp.StatusCode, nil
}

// client is a copy of w.HTTP that does not follow redirects: a redirect is
// an answer, not a delivery.
func (w *Webhook) client() *http.Client {
	c := http.Client{}
	if w.HTTP != nil {
		c = *w.HTTP
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func isSlack(u *url.URL) bool {
	return strings.EqualFold(u.Hostname(), "hooks.slack.com")
}

// snippet is the start of a receiver's answer, quoted, for an error.
func snippet(b []byte) string {
	const max = 200
	if len(b) > max {
		b = b[:max]
	}
	return strconv.QuoteToASCII(string(b))
}

func validate(a Alert) error {
	if a.Rule == "" {
		return errors.New("alert has no rule")
	}
	if a.Status != StatusFiring && a.Status != StatusResolved {
		return fmt.Errorf("alert status %q is neither %q nor %q", a.Status, StatusFiring, StatusResolved)
	}
	return nil
}

// SignHeaders returns the Standard Webhooks headers for body (see
// stdwebhook). The error never holds the secret.
func SignHeaders(secret, id string, at time.Time, body []byte) (http.Header, error) {
	key, err := stdwebhook.ParseSecret(secret)
	if err != nil {
		return nil, err
	}
	return stdwebhook.Sign([][]byte{key}, id, at, body)
}
