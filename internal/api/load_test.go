package api_test

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestConcurrentLoad submits jobs from many clients at once to the embedded
// SQLite queue (riversqlite is young: this is where "database is locked"
// would show) and checks that every accepted job completes.
func TestConcurrentLoad(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{concurrency: 2, uploadsPerCustomer: 16}) // one customer's load: every slot is theirs
	const clients, perClient = 10, 4
	small := []part{
		{Name: "image", File: fixture("chelsea.png")}, {Name: "audio", File: fixture("silence_3s.wav")},
		{Name: "width", Value: "128"}, {Name: "height", Value: "128"}, {Name: "fps", Value: "10"},
	}
	ids := make(chan string, clients*perClient)
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for range perClient {
				j, resp := tb.submit(t, keyA, small...)
				if resp.StatusCode != http.StatusAccepted {
					t.Errorf("POST /generate = %d", resp.StatusCode)
					return
				}
				ids <- j.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	accepted := time.Since(start)
	n := 0
	for id := range ids {
		if j := tb.waitFor(t, keyA, id, "completed", "failed"); j.State != "completed" {
			t.Errorf("job %s ended %s: %+v", id, j.State, j.Error)
		}
		n++
	}
	if n != clients*perClient {
		t.Fatalf("%d jobs accepted, want %d", n, clients*perClient)
	}
	t.Logf("%d jobs accepted in %s, all completed in %s", n, accepted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
