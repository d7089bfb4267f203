package testkit

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP is a real SMTP server (emersion/go-smtp) on 127.0.0.1, without
// TLS, that keeps what it accepts. With a user, it offers PLAIN
// authentication and requires it.
type SMTP struct {
	Addr string // host:port

	user, password string
	mu             sync.Mutex
	mail           []Mail
	fail           int // how many transactions to refuse next (451)
}

// Mail is one message the server accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
	User string // who authenticated, if anyone
}

// StartSMTP starts a server that requires user and password when user
// is not empty; it stops when the test ends.
func StartSMTP(t testing.TB, user, password string) *SMTP {
	t.Helper()
	m := &SMTP{user: user, password: password}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: m}, nil }))
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return m
}

// Mail returns the messages accepted so far.
func (m *SMTP) Mail() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.mail...)
}

// FailNext makes the server refuse the next n messages with 451.
func (m *SMTP) FailNext(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = n
}

type smtpSession struct {
	srv  *SMTP
	user string
	m    Mail
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
		}
		s.user = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.m = Mail{From: from, User: s.user}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.fail > 0 {
		s.srv.fail--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.m.Data = b
	s.srv.mail = append(s.srv.mail, s.m)
	return nil
}

func (s *smtpSession) Reset()        { s.m = Mail{} }
func (s *smtpSession) Logout() error { return nil }
