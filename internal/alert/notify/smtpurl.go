package notify

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// SMTPConfig is a parsed SMTP_URL. Printing it, or logging it with slog,
// never shows the password.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// ImplicitTLS is true for smtps://: TLS from the first byte. Otherwise
	// STARTTLS is required unless Host is a loopback address.
	ImplicitTLS bool
}

// ParseSMTPURL reads smtp://[user[:pass]@]host[:port] (STARTTLS, port 587
// by default) or smtps://… (implicit TLS, port 465 by default). Its errors
// never hold the password.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse's error quotes the URL, password included.
		return SMTPConfig{}, errors.New("SMTP URL is not a valid URL")
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Port = 587
	case "smtps":
		c.Port = 465
		c.ImplicitTLS = true
	default:
		return SMTPConfig{}, fmt.Errorf("SMTP URL scheme %q is neither smtp nor smtps", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return SMTPConfig{}, errors.New("SMTP URL has a path, query or fragment; only user, password, host and port are read")
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return SMTPConfig{}, errors.New("SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("SMTP URL port %q is not a port number", p)
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return SMTPConfig{}, errors.New("SMTP URL has a password but no user")
		}
	}
	return c, nil
}

// Addr is host:port.
func (c SMTPConfig) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// String is the URL with the password replaced by "xxxxx".
func (c SMTPConfig) String() string {
	scheme := "smtp"
	if c.ImplicitTLS {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: c.Addr()}
	switch {
	case c.Password != "":
		u.User = url.UserPassword(c.Username, "xxxxx")
	case c.Username != "":
		u.User = url.User(c.Username)
	}
	return u.String()
}

// GoString keeps %#v from printing the password.
func (c SMTPConfig) GoString() string { return "notify.SMTPConfig(" + c.String() + ")" }

// LogValue keeps slog from printing the password.
func (c SMTPConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// loopback reports whether host is this machine, where plain SMTP is
// allowed when the server offers no STARTTLS.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
