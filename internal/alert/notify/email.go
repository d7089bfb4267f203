package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/textproto"
	"regexp"
	"strings"
	texttemplate "text/template"
	"time"

	mail "github.com/wneessen/go-mail"
)

// Email sends alerts through one SMTP server to a fixed list of
// recipients.
type Email struct {
	// SMTPURL is smtp://user:pass@host:587 (STARTTLS) or smtps://…:465.
	SMTPURL string
	From    string
	To      []string
	// Now is the message's Date; nil means time.Now.
	Now func() time.Time
	// TLSConfig, when set, is used for STARTTLS and implicit TLS (tests
	// trust their own certificate with it); ServerName is filled in from
	// the URL when empty.
	TLSConfig *tls.Config
	// Timeout bounds the attempt; zero means DefaultTimeout.
	Timeout time.Duration
}

// Send sends the alert as one email to all recipients. id is the delivery's
// stable id, the same on every retry; the Message-ID is derived from it.
func (e *Email) Send(ctx context.Context, a Alert, id string) Delivery {
	start := time.Now()
	d := Delivery{Channel: "email"}
	cfg, err := ParseSMTPURL(e.SMTPURL)
	if err == nil {
		d.Target = cfg.Addr()
		err = e.send(ctx, cfg, a, id)
	}
	if err == nil {
		d.Status = 250
	} else {
		d.Status = replyCode(err)
		d.Err = scrub(err, cfg)
	}
	d.Latency = time.Since(start)
	return d
}

// replyCode is the SMTP reply code in err, or 0.
func replyCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func (e *Email) send(ctx context.Context, cfg SMTPConfig, a Alert, id string) error {
	if err := validate(a); err != nil {
		return err
	}
	if len(e.To) == 0 {
		return errors.New("email has no recipients")
	}
	msg, err := e.message(a, id)
	if err != nil {
		return err
	}
	client, err := mail.NewClient(cfg.Host, e.options(cfg)...)
	if err != nil {
		return fmt.Errorf("configure SMTP client for %s: %w", cfg.Addr(), err)
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send alert email via %s: %w", cfg.Addr(), err)
	}
	return nil
}

// options choose TLS as documented on the package: implicit for smtps,
// mandatory STARTTLS for smtp, opportunistic to loopback only.
func (e *Email) options(cfg SMTPConfig) []mail.Option {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.TLSConfig != nil {
		tc = e.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	opts := []mail.Option{mail.WithPort(cfg.Port), mail.WithTLSConfig(tc), mail.WithTimeout(e.timeout())}
	switch {
	case cfg.ImplicitTLS:
		opts = append(opts, mail.WithSSL())
	case loopback(cfg.Host):
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if cfg.Username != "" {
		opts = append(opts,
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	return opts
}

func (e *Email) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return DefaultTimeout
}

func (e *Email) message(a Alert, id string) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return nil, fmt.Errorf("email From %q: %w", e.From, err)
	}
	if err := m.To(e.To...); err != nil {
		return nil, fmt.Errorf("email To: %w", err)
	}
	m.Subject(Subject(a))
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	m.SetDateWithValue(now())
	m.SetMessageIDWithValue(MessageID(id, e.From))
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Alert-Key", oneLine(a.Key))

	data := mailData(a)
	var text strings.Builder
	if err := textBody.Execute(&text, data); err != nil {
		return nil, fmt.Errorf("render alert email text: %w", err)
	}
	m.SetBodyString(mail.TypeTextPlain, text.String())
	if err := m.AddAlternativeHTMLTemplate(htmlBody, data); err != nil {
		return nil, fmt.Errorf("render alert email HTML: %w", err)
	}
	return m, nil
}

// Subject is "[FIRING] " or "[RESOLVED] " and the summary on one line.
func Subject(a Alert) string {
	return "[" + statusWord(a) + "] " + oneLine(a.Summary)
}

var idSafe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// MessageID is the Message-ID (without angle brackets) for delivery id:
// the id itself when it is short and plain, else its SHA-256, at the
// sender's domain. The same id always gives the same Message-ID.
func MessageID(id, from string) string {
	local := id
	if !idSafe.MatchString(id) {
		sum := sha256.Sum256([]byte(id))
		local = hex.EncodeToString(sum[:16])
	}
	domain := "avatar-api.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		d := strings.Trim(from[at+1:], "> ")
		if idSafe.MatchString(d) {
			domain = d
		}
	}
	return "alert." + local + "@" + domain
}

// scrub removes the password from an error's text, in case a library or
// server ever echoes it, and keeps only the context errors in its chain so
// nothing beneath can print it either.
func scrub(err error, cfg SMTPConfig) error {
	msg := err.Error()
	if cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	s := &scrubbed{msg: msg}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		s.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		s.cause = context.Canceled
	}
	return s
}

type scrubbed struct {
	msg   string
	cause error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.cause }

// mailView is what the templates show.
type mailView struct {
	Status, Subject, Summary, Description, Rule, Key, Severity string
	Figures                                                    []Figure
	StartsAt, EndsAt                                           string
	DashboardURL                                               htmltemplate.URL
}

func mailData(a Alert) mailView {
	v := mailView{
		Status: statusWord(a), Subject: Subject(a), Summary: a.Summary, Description: a.Description,
		Rule: a.Rule, Key: a.Key, Severity: a.Severity, Figures: a.Figures,
		StartsAt: a.StartsAt.UTC().Format(time.RFC1123),
	}
	if !a.EndsAt.IsZero() {
		v.EndsAt = a.EndsAt.UTC().Format(time.RFC1123)
	}
	// Only http(s) links are trusted as links; html/template would
	// otherwise rewrite them as #ZgotmplZ.
	if strings.HasPrefix(a.DashboardURL, "https://") || strings.HasPrefix(a.DashboardURL, "http://") {
		v.DashboardURL = htmltemplate.URL(a.DashboardURL)
	}
	return v
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(`{{.Subject}}

{{.Summary}}
{{range .Figures}}
  {{.Name}}: {{.Value}}{{end}}

What to do:
{{.Description}}

Rule: {{.Rule}} ({{.Severity}})
Key: {{.Key}}
Since: {{.StartsAt}}{{if .EndsAt}}
Resolved: {{.EndsAt}}{{end}}{{if .DashboardURL}}

Dashboard: {{.DashboardURL}}{{end}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body>
<h2>[{{.Status}}] {{.Summary}}</h2>
{{if .Figures}}<table>
{{range .Figures}}<tr><th align="left">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>{{end}}
<h3>What to do</h3>
<p>{{.Description}}</p>
<p>Rule <code>{{.Rule}}</code> ({{.Severity}}), key <code>{{.Key}}</code>, since {{.StartsAt}}{{if .EndsAt}}, resolved {{.EndsAt}}{{end}}.</p>
{{if .DashboardURL}}<p><a href="{{.DashboardURL}}">Open the dashboard</a></p>{{end}}
</body></html>
`))
