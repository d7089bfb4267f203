package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// script makes one decision atomically: forget the times that left the
// window, refuse if the window is full (saying when its oldest leaves), or
// record this request. Times are microseconds.
var script = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if now == 0 then -- Redis's clock: one clock for every replica
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local allowed = 0
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  n = n + 1
  allowed = 1
end
-- One more fits once the (n-limit)-th oldest leaves (the oldest, unless
-- the limit was lowered since the others were accepted).
local i = 0
if n >= limit then i = n - limit end
local leaving = redis.call('ZRANGE', KEYS[1], i, i, 'WITHSCORES')
local reset = 0
if leaving[2] then reset = tonumber(leaving[2]) + window - now end
local remaining = limit - n
if remaining < 0 then remaining = 0 end
return {allowed, remaining, reset, now}
`)

// Redis is the limiter shared by every replica: one sorted set of accepted
// times per key and policy, one Lua script per decision. Given a zero time
// it uses Redis's own clock, so replicas' clocks need not agree.
type Redis struct {
	client *redis.Client
	prefix string
	batch  *batcher // nil: a round trip a decision
}

// NewRedis returns a limiter on client, its keys under prefix; the
// decisions of concurrent requests go to Redis together (batcher).
func NewRedis(client *redis.Client, prefix string) *Redis {
	r := &Redis{client: client, prefix: prefix}
	r.batch = &batcher{r: r}
	return r
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, p Policy, now time.Time) (Decision, error) {
	if err := check(p); err != nil {
		return Decision{}, err
	}
	member := newMember()
	var us int64
	if !now.IsZero() {
		us = now.UnixMicro()
	}
	keys, args := []string{r.prefix + p.Name + ":" + key}, []any{us, p.Window.Microseconds(), p.Limit, member}
	var res []int64
	var err error
	if r.batch != nil {
		res, err = r.batch.eval(ctx, keys, args...)
	} else {
		res, err = script.Run(ctx, r.client, keys, args...).Int64Slice()
	}
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit in redis: %w", err)
	}
	return Decision{Allowed: res[0] == 1, Remaining: int(res[1]), Reset: time.Duration(res[2]) * time.Microsecond,
		at: time.UnixMicro(res[3]), member: member}, nil
}

// Release implements Limiter: the entry d recorded leaves the sorted set.
func (r *Redis) Release(ctx context.Context, key string, p Policy, d Decision) error {
	if d.member == "" {
		return nil
	}
	if err := r.client.ZRem(ctx, r.prefix+p.Name+":"+key, d.member).Err(); err != nil {
		return fmt.Errorf("releasing in redis: %w", err)
	}
	return nil
}

// Record adds entries to the log of key without deciding. Entries are
// named, so recording one Redis already holds changes nothing.
func (r *Redis) Record(ctx context.Context, key string, p Policy, entries []Entry) error {
	k := r.prefix + p.Name + ":" + key
	pipe := r.client.TxPipeline()
	for _, e := range entries {
		pipe.ZAdd(ctx, k, redis.Z{Score: float64(e.At.UnixMicro()), Member: e.Member})
	}
	pipe.PExpire(ctx, k, p.Window)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("recording in redis: %w", err)
	}
	return nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }
