package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avatar-api/avatar-api/internal/config"
	"github.com/avatar-api/avatar-api/internal/ratelimit"
)

// newLimiter is the rate limiter: in memory, or in Redis (REDIS_URL) with
// each replica falling back to memory while Redis is unreachable. degraded
// reports that state (nil without Redis).
func newLimiter(cfg *config.Config, log *slog.Logger) (ratelimit.Limiter, func() bool, error) {
	if cfg.RedisURL == "" {
		return ratelimit.NewMemory(), nil, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, errors.New("REDIS_URL: cannot be parsed") // the URL may hold a password: not quoted
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	opts.MaxRetries = -1   // the fallback decides; a retry would only add latency
	opts.DialerRetries = 1 // likewise for connecting
	redis.SetLogger(quietRedis{})
	f := ratelimit.NewFallback(ratelimit.NewRedis(redis.NewClient(opts), "avatar:rl:"), log.With("component", "ratelimit"))
	go f.Watch(context.Background()) // for the life of the process
	return f, f.Degraded, nil
}

// quietRedis drops go-redis's own log lines (plain text on stderr, one per
// failed dial); the fallback logs an outage once, in JSON.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
