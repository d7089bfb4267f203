package ratelimit

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the decisions of concurrent requests to Redis together,
// as group commit does: a decision waits while one batch is on its way,
// then leaves with every other decision that arrived meanwhile, in one
// pipeline (one write, one read) instead of a round trip each. Each is
// still its own script, run atomically by Redis in arrival order, so the
// decisions are as exact as one at a time; a lone request waits for no
// one.
type batcher struct {
	r *Redis // whose client it sends on

	mu      sync.Mutex
	pending []*evalCall
	sending bool
}

type evalCall struct {
	ctx  context.Context
	keys []string
	args []any
	res  []int64
	err  error
	done chan struct{}
}

// eval runs the script with keys and args in the next batch.
func (b *batcher) eval(ctx context.Context, keys []string, args ...any) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // gone already: nothing is recorded for it
	}
	c := &evalCall{ctx: ctx, keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if !b.sending {
		b.sending = true
		go b.send()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send sends the pending decisions, batch after batch, until none wait.
func (b *batcher) send() {
	for {
		b.mu.Lock()
		calls := b.pending
		b.pending = nil
		if len(calls) == 0 {
			b.sending = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		// A caller gone while its decision waited is not sent: its
		// request is not served, so it must not be counted.
		live := calls[:0:0]
		for _, c := range calls {
			if err := c.ctx.Err(); err != nil {
				c.err = err
				close(c.done)
				continue
			}
			live = append(live, c)
		}
		if len(live) > 0 {
			b.run(live)
		}
		for _, c := range live {
			close(c.done)
		}
	}
}

// run sends calls in one pipeline of EVALSHA; if Redis lost the script
// (a restart, SCRIPT FLUSH), it is loaded and those calls sent again.
func (b *batcher) run(calls []*evalCall) {
	ctx := context.Background() // the client's own timeouts bound it; a caller that gives up stops waiting
	b.pipeline(ctx, calls, true)
	var again []*evalCall
	for _, c := range calls {
		if c.err != nil && strings.HasPrefix(c.err.Error(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) > 0 {
		b.pipeline(ctx, again, false)
	}
}

func (b *batcher) pipeline(ctx context.Context, calls []*evalCall, sha bool) {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := b.r.client.Pipeline()
	for i, c := range calls {
		if sha {
			cmds[i] = script.EvalSha(ctx, pipe, c.keys, c.args...)
		} else {
			cmds[i] = script.Eval(ctx, pipe, c.keys, c.args...)
		}
	}
	_, _ = pipe.Exec(ctx) // a failed pipeline leaves its error on each command
	for i, c := range calls {
		c.res, c.err = cmds[i].Int64Slice()
	}
}
