package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// script makes one decision atomically: forget the times that left the
// window, refuse if the window is full (saying when its oldest leaves), or
// record this request. Times are microseconds.
var script = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local allowed = 0
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  n = n + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, limit - n, reset}
`)

// Redis is the limiter shared by every replica: one sorted set of accepted
// times per key and policy, one Lua script per decision. Replicas' clocks
// must agree (NTP) to the precision wanted of the Retry-After.
type Redis struct {
	client *redis.Client
	prefix string
}

// NewRedis returns a limiter on client, its keys under prefix.
func NewRedis(client *redis.Client, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	if err := check(p); err != nil {
		return Decision{}, err
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	us := now.UnixMicro()
	res, err := script.Run(ctx, r.client, []string{r.prefix + p.Name + ":" + key},
		us, p.Window.Microseconds(), p.Limit, fmt.Sprintf("%d-%s", us, hex.EncodeToString(nonce[:]))).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit in redis: %w", err)
	}
	return Decision{Allowed: res[0] == 1, Remaining: int(res[1]), Reset: time.Duration(res[2]) * time.Microsecond}, nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }
