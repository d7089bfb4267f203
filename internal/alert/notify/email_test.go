package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/avatar-api/avatar-api/internal/alert/notify"
)

// mailbox is what the test SMTP server received in one transaction.
type mailbox struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

type smtpOptions struct {
	startTLS *tls.Config // offered by STARTTLS when set
	implicit *tls.Config // smtps: the listener speaks TLS
	user     string      // requires this user and password when set
	password string
}

// smtpServer runs a real SMTP server (emersion/go-smtp) on 127.0.0.1 and
// returns its port and the messages it accepts.
func smtpServer(t *testing.T, o smtpOptions) (int, <-chan mailbox) {
	t.Helper()
	got := make(chan mailbox, 10)
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{o: o, got: got, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.TLSConfig = o.startTLS
	var l net.Listener
	var err error
	if o.implicit != nil {
		l, err = tls.Listen("tcp", "127.0.0.1:0", o.implicit)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return l.Addr().(*net.TCPAddr).Port, got
}

type session struct {
	o    smtpOptions
	got  chan<- mailbox
	conn *smtp.Conn
	m    mailbox
}

func (s *session) AuthMechanisms() []string {
	if s.o.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.o.user || pass != s.o.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
		}
		s.m.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.user != "" && s.m.user == "" {
		return smtp.ErrAuthRequired
	}
	s.m.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.data = b
	_, s.m.tls = s.conn.TLSConnectionState()
	s.got <- s.m
	return nil
}

func (s *session) Reset()        { s.m = mailbox{user: s.m.user} }
func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a client configuration
// that trusts only it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, &tls.Config{RootCAs: pool}
}

var sent = time.Date(2026, 12, 3, 9, 1, 0, 0, time.UTC)

func emailTo(url string, client *tls.Config) *notify.Email {
	return &notify.Email{
		SMTPURL: url, From: "alerts@avatar.example.com", To: []string{"owner@example.com"},
		Now: func() time.Time { return sent }, TLSConfig: client,
	}
}

// checkMessage parses the message as a mail reader would and checks its
// headers and both parts.
func checkMessage(t *testing.T, m mailbox, a notify.Alert) {
	t.Helper()
	if m.from != "alerts@avatar.example.com" || len(m.to) != 1 || m.to[0] != "owner@example.com" {
		t.Errorf("envelope from %q to %v", m.from, m.to)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[" + strings.ToUpper(a.Status) + "] " + a.Summary; subject != want {
		t.Errorf("Subject = %q, want %q", subject, want)
	}
	if id := msg.Header.Get("Message-Id"); id != "<alert.delivery-7@avatar.example.com>" {
		t.Errorf("Message-ID = %q", id)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(sent) {
		t.Errorf("Date = %v, %v", d, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts[ct] = string(b)
	}
	if len(parts) != 2 {
		t.Fatalf("parts %v, want text/plain and text/html", len(parts))
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{a.Summary, "Cost today: $12.40", "Threshold: $10.00", a.Description, "Rule: cost_daily", a.DashboardURL} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"<th align=\"left\">Cost today</th><td>$12.40</td>", "avatar-api runpod scale --max-workers N",
		"<code>cost_daily</code>", `<a href="https://avatar.example.com/dashboard">`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Errorf("HTML part holds unescaped markup:\n%s", html)
	}
}

func TestEmailPlainLoopback(t *testing.T) {
	t.Parallel()
	port, got := smtpServer(t, smtpOptions{})
	a := costAlert()
	d := emailTo(fmt.Sprintf("smtp://127.0.0.1:%d", port), nil).Send(context.Background(), a, "delivery-7")
	if d.Err != nil || d.Status != 250 || d.Channel != "email" || d.Target != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("%+v", d)
	}
	m := <-got
	if m.tls {
		t.Error("TLS without STARTTLS on offer?")
	}
	checkMessage(t, m, a)
}

func TestEmailSTARTTLSAuth(t *testing.T) {
	t.Parallel()
	srvTLS, clientTLS := selfSigned(t)
	port, got := smtpServer(t, smtpOptions{startTLS: srvTLS, user: "alerts", password: "s3cret-Pa55"})
	a := costAlert()
	a.Description = "Lower max workers: avatar-api runpod scale --max-workers N <script>alert(1)</script>"
	d := emailTo(fmt.Sprintf("smtp://alerts:s3cret-Pa55@127.0.0.1:%d", port), clientTLS).Send(context.Background(), a, "delivery-7")
	if d.Err != nil {
		t.Fatalf("%+v", d)
	}
	m := <-got
	if !m.tls || m.user != "alerts" {
		t.Errorf("tls %v, user %q: want STARTTLS and authentication", m.tls, m.user)
	}
	checkMessage(t, m, a)
}

func TestEmailImplicitTLSResolved(t *testing.T) {
	t.Parallel()
	srvTLS, clientTLS := selfSigned(t)
	port, got := smtpServer(t, smtpOptions{implicit: srvTLS})
	a := costAlert()
	a.Status = notify.StatusResolved
	a.EndsAt = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	d := emailTo(fmt.Sprintf("smtps://127.0.0.1:%d", port), clientTLS).Send(context.Background(), a, "delivery-7")
	if d.Err != nil {
		t.Fatalf("%+v", d)
	}
	m := <-got
	if !m.tls {
		t.Error("smtps without TLS")
	}
	checkMessage(t, m, a)
}

func TestEmailFailures(t *testing.T) {
	t.Parallel()

	t.Run("password refused, and not in the error", func(t *testing.T) {
		t.Parallel()
		srvTLS, clientTLS := selfSigned(t)
		port, got := smtpServer(t, smtpOptions{startTLS: srvTLS, user: "alerts", password: "right"})
		d := emailTo(fmt.Sprintf("smtp://alerts:wr0ng-Pa55@127.0.0.1:%d", port), clientTLS).Send(context.Background(), costAlert(), "delivery-7")
		if d.Err == nil {
			t.Fatal("delivered with a wrong password")
		}
		if all := fmt.Sprintf("%v %+v %#v", d.Err, d, d); strings.Contains(all, "wr0ng-Pa55") {
			t.Errorf("the password shows: %s", all)
		}
		if d.Status != 535 {
			t.Errorf("Status = %d, want the server's 535", d.Status)
		}
		if !strings.Contains(d.Err.Error(), "535") {
			t.Errorf("error %q does not say the server refused", d.Err)
		}
		select {
		case m := <-got:
			t.Errorf("received %v", m)
		default:
		}
	})

	t.Run("certificate not trusted", func(t *testing.T) {
		t.Parallel()
		srvTLS, _ := selfSigned(t)
		port, got := smtpServer(t, smtpOptions{startTLS: srvTLS})
		d := emailTo(fmt.Sprintf("smtp://127.0.0.1:%d", port), nil).Send(context.Background(), costAlert(), "delivery-7")
		if d.Err == nil {
			t.Fatal("delivered over an untrusted connection")
		}
		select {
		case m := <-got:
			t.Errorf("received %v", m)
		default:
		}
	})

	t.Run("server down", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		d := emailTo("smtp://alerts:pa55w0rd@"+addr, nil).Send(context.Background(), costAlert(), "delivery-7")
		if d.Err == nil || strings.Contains(d.Err.Error(), "pa55w0rd") || d.Target != addr {
			t.Errorf("%+v", d)
		}
	})
}

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	c, err := notify.ParseSMTPURL("smtp://user%40example.com:p%40ss@mail.example.com")
	if err != nil || c.Host != "mail.example.com" || c.Port != 587 || c.ImplicitTLS || c.Username != "user@example.com" || c.Password != "p@ss" {
		t.Errorf("%+v %v", c, err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", c, c, c, c.String()); strings.Contains(s, "p@ss") || strings.Contains(s, "p%40ss") {
		t.Errorf("printing shows the password: %s", s)
	}
	c, err = notify.ParseSMTPURL("smtps://mail.example.com")
	if err != nil || c.Port != 465 || !c.ImplicitTLS || c.Username != "" {
		t.Errorf("%+v %v", c, err)
	}
	for _, bad := range []string{
		"http://u:pa%zzss@host", "smtp://u:pa%zzss@host", "smtp://u:pa ss@ho st", "smtp://u:passw0rd@host:99999",
		"smtp://u:passw0rd@host/path", "smtp://:passw0rd@host", "smtp://",
	} {
		_, err := notify.ParseSMTPURL(bad)
		if err == nil {
			t.Errorf("%q parsed", bad)
			continue
		}
		for _, secret := range []string{"pa%zzss", "zz", "pa ss", "passw0rd"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%q: error %q shows the password", bad, err)
			}
		}
	}
}

func TestMessageIDStable(t *testing.T) {
	t.Parallel()
	a, b := notify.MessageID("cost_daily/2026-12-03/10#1", "x@y.example"), notify.MessageID("cost_daily/2026-12-03/10#1", "x@y.example")
	if a != b || !strings.HasSuffix(a, "@y.example") || strings.ContainsAny(a, "/# <>") {
		t.Errorf("%q %q", a, b)
	}
}
