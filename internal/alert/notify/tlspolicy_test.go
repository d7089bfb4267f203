package notify

import (
	"testing"

	mail "github.com/wneessen/go-mail"
)

// TestTLSPolicy checks the documented choice: STARTTLS is mandatory for
// smtp:// except to a loopback host. A real server cannot stand at a
// non-loopback address here, so this reads the policy go-mail was given.
func TestTLSPolicy(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"smtp://u:p@mail.example.com":  "TLSMandatory",
		"smtp://u:p@10.0.0.5:25":       "TLSMandatory",
		"smtp://127.0.0.1:2525":        "TLSOpportunistic",
		"smtp://localhost:2525":        "TLSOpportunistic",
		"smtp://[::1]:2525":            "TLSOpportunistic",
		"smtps://u:p@mail.example.com": "TLSMandatory",
	} {
		cfg, err := ParseSMTPURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c, err := mail.NewClient(cfg.Host, (&Email{}).options(cfg)...)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.TLSPolicy(); got != want {
			t.Errorf("%s: policy %s, want %s", url, got, want)
		}
	}
}
