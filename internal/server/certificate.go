package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certRecheck is how often, at most, the certificate files are looked at
// for a renewal.
const certRecheck = time.Minute

// certFiles is a certificate chain and key read from two PEM files, read
// again when either changes (a renewal by certbot or cert-manager), so
// that a renewed certificate is served without a restart. The files are
// looked at during a handshake, at most once a minute; a renewal that
// cannot be loaded (the key written before the chain, say) is logged and
// the certificate in hand kept until the next look.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu       sync.Mutex
	current  *tls.Certificate
	modified [2]time.Time // of the files loaded
	looked   time.Time
}

// loadCertFiles reads the pair once; an error means the server cannot start.
func loadCertFiles(certFile, keyFile string, log *slog.Logger, now func() time.Time) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, log: log, now: now}
	mod, err := c.modTimes()
	if err == nil {
		err = c.load(mod)
	}
	if err != nil {
		return nil, err
	}
	c.looked = now()
	return c, nil
}

func (c *certFiles) modTimes() ([2]time.Time, error) {
	var mod [2]time.Time
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return mod, fmt.Errorf("TLS certificate: %w", err)
		}
		mod[i] = fi.ModTime()
	}
	return mod, nil
}

func (c *certFiles) load(mod [2]time.Time) error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate: loading %s and %s: %w", c.certFile, c.keyFile, err)
	}
	c.current, c.modified = &pair, mod
	return nil
}

// get is tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.looked) >= certRecheck {
		c.looked = now
		mod, err := c.modTimes()
		if err == nil && mod != c.modified {
			if err = c.load(mod); err == nil {
				c.log.Info("TLS certificate reloaded", "cert_file", c.certFile)
			}
		}
		if err != nil {
			c.log.Warn("TLS certificate not reloaded; serving the one in hand", "error", err)
		}
	}
	return c.current, nil
}
