package s3

import "testing"

// TestClientTimeouts: the bucket's client does not wait for ever on an
// answer that never comes, nor on a body that stalls.
func TestClientTimeouts(t *testing.T) {
	t.Parallel()
	c := httpClient()
	tr := c.GetTransport()
	if tr.ResponseHeaderTimeout != answerTimeout || tr.TLSHandshakeTimeout <= 0 || c.GetDialer().Timeout <= 0 {
		t.Errorf("transport: answer %s, TLS handshake %s, dial %s", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout, c.GetDialer().Timeout)
	}
}
